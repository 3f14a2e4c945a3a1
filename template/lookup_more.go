package template

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	gexec "github.com/nikolalohinski/gonja/v2/exec"

	"github.com/gpuctl/gpuctl/internal/pyre"
)

// IsLookup reports whether gpuctl has the lookup plugin name (short or FQCN).
func IsLookup(name string) bool {
	_, ok := lookups()[lookupPlugin(name)]
	return ok
}

// Lookup runs lookup plugin name on terms with vars, as a with_<name> loop runs it.
func (e *Engine) Lookup(name string, terms []any, vars map[string]any) ([]any, error) {
	name = lookupPlugin(name)
	var fn lookupFunc
	switch name {
	case "varnames":
		names := make([]string, 0, len(vars))
		for k := range vars {
			names = append(names, k)
		}
		fn = lookupVarnames(names)
	case "template":
		return nil, fmt.Errorf("lookup plugin %q: use lookup('template', ...) in loop:", name)
	case "inventory_hostnames":
		fn = e.lookupInventoryHostnames
	default:
		var ok bool
		if fn, ok = lookups()[name]; !ok {
			return nil, fmt.Errorf("lookup plugin %q is not supported (supported: %s)", name, strings.Join(LookupNames(), ", "))
		}
	}
	get := varGetter(func(k string) (any, bool) { v, ok := vars[k]; return v, ok })
	out, err := fn(get, terms, map[string]any{})
	if err != nil {
		return nil, fmt.Errorf("lookup(%q): %w", name, err)
	}
	return out, nil
}

// lookupVarnames is ansible.builtin.varnames: for each term, a Python pattern, the names of
// the variables it finds (re.search). Ansible lists them in the order of its variables
// dict; gpuctl's variables keep no order, so they come sorted.
func lookupVarnames(names []string) lookupFunc {
	sort.Strings(names)
	return func(_ varGetter, terms []any, _ map[string]any) ([]any, error) {
		out := []any{}
		for _, t := range terms {
			s, ok := t.(string)
			if !ok {
				return nil, fmt.Errorf("Invalid setting identifier, %q is not a string, it is a %s", toString(t), typeName(t))
			}
			re, err := pyre.Compile(s, 0)
			if err != nil {
				return nil, fmt.Errorf("Unable to use %q as a search parameter: %w", s, err)
			}
			for _, n := range names {
				if re.MatchString(n) {
					out = append(out, n)
				}
			}
		}
		return out, nil
	}
}

// contextNames lists the variables a template sees: every layer of its gonja context but
// the environment's own globals. gonja's Context has no way to list them, so this reads
// its fields.
func contextNames(ctx *gexec.Context) []string {
	var out []string
	for v := reflect.ValueOf(ctx); v.IsValid() && !v.IsNil(); {
		el := v.Elem()
		parent := el.FieldByName("parent")
		if !parent.IsValid() || parent.IsNil() {
			break // the environment's globals: lookup, range, ...
		}
		data := el.FieldByName("data")
		if data.IsValid() && data.Kind() == reflect.Map {
			for _, k := range data.MapKeys() {
				if n := k.String(); n != "self" && !strings.HasPrefix(n, "__gpuctl_") {
					out = append(out, n)
				}
			}
		}
		v = parent
	}
	seen := map[string]bool{}
	uniq := out[:0]
	for _, n := range out {
		if !seen[n] {
			seen[n] = true
			uniq = append(uniq, n)
		}
	}
	return uniq
}

// lookupFlattened is community.general's flattened: the terms flattened at every depth. A
// list of one item counts as that item; the string "None" or "null" ends the list it is
// in (the plugin's "ignore undefined items"); a string is stripped of surrounding space.
func lookupFlattened(_ varGetter, terms []any, _ map[string]any) ([]any, error) {
	return flattenTerms(terms), nil
}

func flattenTerms(terms []any) []any {
	out := []any{}
	for _, term := range terms {
		for {
			l, ok := term.([]any)
			if !ok || len(l) != 1 {
				break
			}
			term = l[0]
		}
		if s, ok := term.(string); ok {
			if s == "None" || s == "null" {
				break
			}
			if t := strings.TrimSpace(s); t != s {
				term = t
			}
		}
		if l, ok := term.([]any); ok {
			out = append(out, flattenTerms(l)...)
			continue
		}
		out = append(out, term)
	}
	return out
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "<class 'NoneType'>"
	case int:
		return "<class 'int'>"
	case float64:
		return "<class 'float'>"
	case bool:
		return "<class 'bool'>"
	case []any:
		return "<class 'list'>"
	case map[string]any:
		return "<class 'dict'>"
	}
	return fmt.Sprintf("%T", v)
}
