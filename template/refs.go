package template

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/nikolalohinski/gonja/v2/nodes"
	"github.com/nikolalohinski/gonja/v2/tokens"
)

// Node types the reference walk recognises. Read-only after init.
var (
	nameType    = reflect.TypeFor[*nodes.Name]()
	attrType    = reflect.TypeFor[*nodes.GetAttribute]()
	itemType    = reflect.TypeFor[*nodes.GetItem]()
	stringType  = reflect.TypeFor[*nodes.String]()
	integerType = reflect.TypeFor[*nodes.Integer]()
	tokenType   = reflect.TypeFor[*tokens.Token]()
)

// Refs lists the variables a template reads, from its parse tree: each as
// the dotted path of its static accesses, a dynamic subscript written "*"
// ("w.stdout", "hostvars.a.join.changed", "hostvars.*.token"). A string
// without markup reads nothing. Names bound inside the template ({% for %}
// and {% set %} targets) and called functions are listed too: callers use
// the list to find what a task depends on, where one name too many costs
// nothing and one too few gives a wrong answer.
func (e *Engine) Refs(src string) ([]string, error) {
	if !IsTemplate(src) {
		return nil, nil
	}
	t, err := e.parse(src, rawLiterals)
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	walkRefs(reflect.ValueOf(t.Root()), map[uintptr]bool{}, func(p string) {
		// Names gpuctl's own rewrites bind (conditional.go) are no one's variables.
		if !strings.HasPrefix(p, "__gpuctl_") {
			set[p] = true
		}
	})
	out := make([]string, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	slices.Sort(out)
	return out, nil
}

// ExprRefs is Refs for a bare expression, as written in when: or until:.
func (e *Engine) ExprRefs(expr string) ([]string, error) {
	if inner, ok := soleExpression(expr); ok {
		expr = inner
	}
	refs, err := e.Refs("{{ " + expr + " }}")
	if err != nil {
		return nil, fmt.Errorf("expression %q: %w", expr, err)
	}
	return refs, nil
}

// walkRefs visits every node below v. It works on reflect values because
// gonja's control structures keep their expressions in unexported fields,
// which reflection may read but not turn back into interfaces.
func walkRefs(v reflect.Value, seen map[uintptr]bool, add func(string)) {
	switch v.Kind() {
	case reflect.Interface:
		if !v.IsNil() {
			walkRefs(v.Elem(), seen, add)
		}
	case reflect.Pointer:
		if v.IsNil() || v.Type() == tokenType || seen[v.Pointer()] {
			return
		}
		seen[v.Pointer()] = true
		if path, dynamic, ok := accessPath(v); ok {
			add(path)
			for _, d := range dynamic {
				walkRefs(d, seen, add)
			}
			return
		}
		walkRefs(v.Elem(), seen, add)
	case reflect.Struct:
		for i := range v.NumField() {
			walkRefs(v.Field(i), seen, add)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			walkRefs(v.Index(i), seen, add)
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			walkRefs(it.Value(), seen, add)
		}
	}
}

// accessPath reads a chain of attribute and item accesses on a name
// (a.b['c'][x]) as "a.b.c.*", returning the dynamic subscripts to walk.
func accessPath(v reflect.Value) (string, []reflect.Value, bool) {
	if v.Kind() == reflect.Interface {
		if v.IsNil() {
			return "", nil, false
		}
		v = v.Elem()
	}
	switch v.Type() {
	case nameType:
		return v.Elem().FieldByName("Name").Elem().FieldByName("Val").String(), nil, true
	case attrType:
		n := v.Elem()
		path, dyn, ok := accessPath(n.FieldByName("Node"))
		if !ok {
			return "", nil, false
		}
		seg := n.FieldByName("Attribute").String()
		if seg == "" {
			seg = strconv.Itoa(int(n.FieldByName("Index").Int()))
		}
		return path + "." + seg, dyn, true
	case itemType:
		n := v.Elem()
		path, dyn, ok := accessPath(n.FieldByName("Node"))
		if !ok {
			return "", nil, false
		}
		arg := n.FieldByName("Arg")
		if !arg.IsNil() {
			arg = arg.Elem()
		}
		switch {
		case arg.IsValid() && arg.Type() == stringType:
			return path + "." + arg.Elem().FieldByName("Val").String(), dyn, true
		case arg.IsValid() && arg.Type() == integerType:
			return path + "." + strconv.Itoa(int(arg.Elem().FieldByName("Val").Int())), dyn, true
		}
		return path + ".*", append(dyn, arg), true
	}
	return "", nil, false
}
