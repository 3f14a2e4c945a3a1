package template

import (
	"fmt"
	"regexp"
	"strings"
)

// gonja reports a missing key by its subscript as written ("item
// 'ansible_distribution_release' not found"); ansible-core (Jinja2) names
// the value looked up and what it was looked up in ("'dict object' has no
// attribute 'bookworm'"), which is what a user needs to see: the key that
// the data lacks. gonja's evaluator does not keep the value, so the parts of
// the failed lookup are evaluated again, from the same variables.

// lookupFailure is gonja's innermost report of a failed lookup: the
// expression it evaluated, then why (a missing item or attribute, an index
// into a map, an attribute of None).
var lookupFailure = regexp.MustCompile(`^(.*): (?:item '.*' not found|attribute '.*' not found|Can't access an index on type map.*|(Can't use Getitem on None).*)$`)

var attrAccess = regexp.MustCompile(`^(.+)\.([A-Za-z_][A-Za-z0-9_]*)$`)

// missingKey explains a failed lookup as Jinja2 does, and says which part
// of src it was; ok is false where it cannot (the message is not a failed
// lookup, or the key is a variable only the template defines, such as a
// loop's).
func (e *Engine) missingKey(src, msg string, vars map[string]any) (string, bool) {
	i := strings.LastIndex(strings.ToLower(msg), "unable to evaluate ")
	if i < 0 {
		return "", false
	}
	m := lookupFailure.FindStringSubmatch(strings.TrimSpace(msg[i+len("unable to evaluate "):]))
	if m == nil {
		return "", false
	}
	node := m[1]
	container, keyExpr, attr := splitLookup(node)
	// Evaluating again must not call anything: a lookup (pipe, password)
	// would run twice, a random filter would give another value.
	if container == "" || strings.ContainsAny(container+keyExpr, "(|") {
		return "", false
	}
	// gonja's Eval cannot hand back a None, but its message says so.
	var obj any
	if m[2] == "" {
		var err error
		if obj, err = e.Eval(container, vars); err != nil {
			return "", false
		}
	}
	var key any = attr
	if keyExpr != "" {
		var err error
		if key, err = e.Eval(keyExpr, vars); err != nil {
			return "", false
		}
	}
	var out string
	switch k := key.(type) {
	case string:
		out = fmt.Sprintf("'%s' has no attribute %s", typeRepr(obj), pyRepr(k))
	case int, int64:
		out = fmt.Sprintf("%s has no element %d", typeRepr(obj), k)
	default:
		return "", false
	}
	if node != strings.TrimSpace(src) {
		out += " (at " + node + ")"
	}
	return out, true
}

// splitLookup splits `a.b[c]` into the container `a.b` and the key
// expression `c`, or `a.b` into `a` and the attribute `b`.
func splitLookup(node string) (container, keyExpr, attr string) {
	if strings.HasSuffix(node, "]") {
		depth := 0
		for j := len(node) - 1; j > 0; j-- {
			switch node[j] {
			case ']':
				depth++
			case '[':
				if depth--; depth == 0 {
					return node[:j], node[j+1 : len(node)-1], ""
				}
			}
		}
		return "", "", ""
	}
	if m := attrAccess.FindStringSubmatch(node); m != nil {
		return m[1], "", m[2]
	}
	return "", "", ""
}

// typeRepr is Jinja2's object_type_repr of a value as gpuctl holds it.
func typeRepr(v any) string {
	switch v.(type) {
	case nil:
		return "None"
	case map[string]any:
		return "dict object"
	case []any:
		return "list object"
	case string:
		return "str object"
	case bool:
		return "bool object"
	case int, int64:
		return "int object"
	case float64:
		return "float object"
	}
	return fmt.Sprintf("%T object", v)
}

// pyRepr quotes s as Python's repr does.
func pyRepr(s string) string {
	if strings.Contains(s, "'") && !strings.Contains(s, `"`) {
		return `"` + strings.ReplaceAll(s, `\`, `\\`) + `"`
	}
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`, "\t", `\t`).Replace(s) + "'"
}
