package template

import (
	"path/filepath"
)

// moreAnsibleTests are the tests of ansible.builtin that roles use besides
// the ones in register.go: contains, truthy, falsy, all, any, and the is_*
// spellings of the path tests.
func moreAnsibleTests(tests map[string]func(any, []any, map[string]any) (bool, error)) {
	// Jinja2's true and false tests are Python's `is True`/`is False`:
	// only the booleans pass, not any value that is truthy or falsy
	// (kubespray: `kube_service_addresses | ipaddr('net') is not false`).
	tests["true"] = func(in any, _ []any, _ map[string]any) (bool, error) { b, ok := in.(bool); return ok && b, nil }
	tests["false"] = func(in any, _ []any, _ map[string]any) (bool, error) { b, ok := in.(bool); return ok && !b, nil }
	tests["contains"] = func(in any, args []any, kw map[string]any) (bool, error) {
		l, err := listOf(in)
		if err != nil || len(args) < 1 {
			return false, err
		}
		return contains(l, args[0]), nil
	}
	tests["truthy"] = func(in any, _ []any, _ map[string]any) (bool, error) { return Truthy(in), nil }
	tests["falsy"] = func(in any, _ []any, _ map[string]any) (bool, error) { return !Truthy(in), nil }
	tests["all"] = func(in any, _ []any, _ map[string]any) (bool, error) {
		l, err := listOf(in)
		for _, v := range l {
			if !Truthy(v) {
				return false, err
			}
		}
		return true, err
	}
	tests["any"] = func(in any, _ []any, _ map[string]any) (bool, error) {
		l, err := listOf(in)
		for _, v := range l {
			if Truthy(v) {
				return true, err
			}
		}
		return false, err
	}
	for _, name := range []string{"abs", "file", "link"} {
		tests["is_"+name] = tests[name]
	}
	tests["is_dir"] = tests["directory"]
}

// pathJoin is path_join: a list of path parts joined as os.path.join does
// (an absolute part starts over).
func pathJoin(in any, _ []any, _ map[string]any) (any, error) {
	l, err := listOf(in)
	if err != nil {
		return toString(in), nil
	}
	out := ""
	for _, p := range l {
		s := toString(p)
		if filepath.IsAbs(s) || out == "" {
			out = s
			continue
		}
		out = filepath.Join(out, s)
	}
	return out, nil
}

// typeDebug is type_debug: the Python type name of a value.
func typeDebug(in any, _ []any, _ map[string]any) (any, error) {
	switch in.(type) {
	case nil:
		return "NoneType", nil
	case bool:
		return "bool", nil
	case int, int64:
		return "int", nil
	case float64:
		return "float", nil
	case string:
		return "str", nil
	case []any:
		return "list", nil
	case map[string]any:
		return "dict", nil
	}
	return "object", nil
}
