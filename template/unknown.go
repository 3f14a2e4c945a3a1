package template

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/nikolalohinski/gonja/v2/nodes"

	"github.com/gpuctl/gpuctl/internal/suggest"
)

var (
	filterCallType = reflect.TypeFor[*nodes.FilterCall]()
	testCallType   = reflect.TypeFor[*nodes.TestCall]()
	callType       = reflect.TypeFor[*nodes.Call]()
)

// Unknown reports the filters, tests and lookup plugins a template uses
// that gpuctl does not have, found in its parse tree, so a playbook fails
// at load rather than on the first host that renders the template. A
// suggestion is added only for a close spelling.
func (e *Engine) Unknown(src string) error {
	if !IsTemplate(src) {
		return nil
	}
	t, err := e.parse(src, rawLiterals)
	if err != nil {
		return err
	}
	var errs []string
	seen := map[string]bool{}
	report := func(kind, name string, known []string) {
		if !seen[kind+name] {
			seen[kind+name] = true
			errs = append(errs, fmt.Sprintf("unknown %s %q%s", kind, name, suggest.Hint(name, known)))
		}
	}
	walkNodes(reflect.ValueOf(t.Root()), map[uintptr]bool{}, func(v reflect.Value) {
		switch n := v.Interface().(type) {
		case *nodes.FilterCall:
			if !e.env.Filters.Exists(n.Name) {
				name := unmangleFQCN(n.Name)
				if e.FilterResolver != nil {
					if f, ok := e.FilterResolver(name); ok && e.AddPythonFilter(f) == nil {
						return // pyfilter.go: runs on the controller's Python
					}
				}
				report("filter", name, e.filterNames)
			}
		case *nodes.TestCall:
			if !e.env.Tests.Exists(n.Name) {
				report("test", n.Name, e.testNames)
			}
		case *nodes.Call:
			if name, ok := lookupName(n); ok {
				if _, known := lookups()[name]; !known {
					report("lookup plugin", name, LookupNames())
				}
			}
		}
	})
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// UnknownExpr is Unknown for a bare expression (when:, until:).
func (e *Engine) UnknownExpr(expr string) error {
	if inner, ok := soleExpression(expr); ok {
		expr = inner
	}
	return e.Unknown("{{ " + expr + " }}")
}

// lookupName returns the plugin a lookup('x', ...), query('x') or q('x')
// call names, when it is written as a string.
func lookupName(c *nodes.Call) (string, bool) {
	fn, ok := c.Func.(*nodes.Name)
	if !ok || len(c.Args) == 0 {
		return "", false
	}
	switch fn.Name.Val {
	case "lookup", "query", "q":
	default:
		return "", false
	}
	s, ok := c.Args[0].(*nodes.String)
	if !ok {
		return "", false
	}
	return lookupPlugin(s.Val), true
}

// lookupPlugin strips the collection from a lookup plugin's name.
func lookupPlugin(name string) string {
	for _, p := range fqcnPrefixes {
		name = strings.TrimPrefix(name, p)
	}
	return name
}

// walkNodes calls visit on every filter, test and call node below v, also
// inside control structures (whose fields are unexported: reflection reads
// them as walkRefs does, and only exported node pointers are visited).
func walkNodes(v reflect.Value, seen map[uintptr]bool, visit func(reflect.Value)) {
	switch v.Kind() {
	case reflect.Interface:
		if !v.IsNil() {
			walkNodes(v.Elem(), seen, visit)
		}
	case reflect.Pointer:
		if v.IsNil() || v.Type() == tokenType || seen[v.Pointer()] {
			return
		}
		seen[v.Pointer()] = true
		switch v.Type() {
		case filterCallType, testCallType, callType:
			visit(reflect.NewAt(v.Type().Elem(), v.UnsafePointer()))
		}
		walkNodes(v.Elem(), seen, visit)
	case reflect.Struct:
		for i := range v.NumField() {
			walkNodes(v.Field(i), seen, visit)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			walkNodes(v.Index(i), seen, visit)
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			walkNodes(it.Value(), seen, visit)
		}
	}
}

func keys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
