package template

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/nikolalohinski/gonja/v2/builtins"
	"github.com/nikolalohinski/gonja/v2/exec"
	"gopkg.in/yaml.v3"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/internal/yaml11"
)

// ansibleFilters are the filters Ansible adds to Jinja2 that playbooks use
// most. Anything not here falls back to gonja's Jinja2 builtins.
func ansibleFilters() map[string]exec.FilterFunction {
	return map[string]exec.FilterFunction{
		"bool": func(e *exec.Evaluator, in *exec.Value, p *exec.VarArgs) *exec.Value {
			if in.IsError() {
				return in
			}
			return exec.AsValue(toBool(normalize(in.Interface())))
		},
		"to_json":      jsonFilter(false),
		"json_query":   jsonQuery, // jsonquery.go
		"to_nice_json": jsonFilter(true),
		"from_json": func(e *exec.Evaluator, in *exec.Value, p *exec.VarArgs) *exec.Value {
			if in.IsError() {
				return in
			}
			var v any
			if err := json.Unmarshal([]byte(in.String()), &v); err != nil {
				return exec.AsValue(fmt.Errorf("from_json: %w", err))
			}
			return exec.AsValue(v)
		},
		"to_yaml":      yamlFilter,
		"to_nice_yaml": yamlFilter,
		"from_yaml": func(e *exec.Evaluator, in *exec.Value, p *exec.VarArgs) *exec.Value {
			if in.IsError() {
				return in
			}
			var v any
			if err := yaml11.Unmarshal([]byte(in.String()), &v); err != nil {
				return exec.AsValue(fmt.Errorf("from_yaml: %w", err))
			}
			return exec.AsValue(v)
		},
		"b64encode": stringFilter(func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }),
		"b64decode": func(e *exec.Evaluator, in *exec.Value, p *exec.VarArgs) *exec.Value {
			if in.IsError() {
				return in
			}
			b, err := base64.StdEncoding.DecodeString(in.String())
			if err != nil {
				return exec.AsValue(fmt.Errorf("b64decode: %w", err))
			}
			return exec.AsValue(string(b))
		},
		"basename": stringFilter(pyBasename),
		"dirname":  stringFilter(pyDirname),
		// ansible.builtin's Windows path filters (ntpath), for the Windows
		// branches of roles: they load, and render like Ansible's
		"win_basename": stringFilter(func(s string) string { _, t := ntSplit(s); return t }),
		"win_dirname":  stringFilter(func(s string) string { h, _ := ntSplit(s); return h }),
		"win_splitdrive": func(e *exec.Evaluator, in *exec.Value, p *exec.VarArgs) *exec.Value {
			if in.IsError() {
				return in
			}
			d, rest := ntSplitDrive(in.String())
			return exec.AsValue([]any{d, rest})
		},
		"quote": stringFilter(conn.Quote),
		// Jinja2's trim takes any value as its string (soft_str), and
		// chars to strip; gonja's refuses what is not a string, and so
		// also an undefined value that should stay undefined
		// Jinja2's string is Python's str: None is "None" (kubespray:
		// `ipaddr(network) | string == 'None'`)
		"string": func(e *exec.Evaluator, in *exec.Value, p *exec.VarArgs) *exec.Value {
			if in.IsError() {
				return in
			}
			if in.IsNil() {
				return exec.AsValue("None")
			}
			return exec.AsValue(in.String())
		},
		"trim": func(e *exec.Evaluator, in *exec.Value, p *exec.VarArgs) *exec.Value {
			if in.IsError() {
				return in
			}
			if len(p.Args) > 0 && !p.Args[0].IsNil() {
				return exec.AsValue(strings.Trim(in.String(), p.Args[0].String()))
			}
			return exec.AsValue(strings.TrimSpace(in.String()))
		},
		"default": defaultFilter,
		"d":       defaultFilter,
		"first":   seqEnd(jinjaFirst),
		"last":    seqEnd(jinjaLast),
		"mandatory": func(e *exec.Evaluator, in *exec.Value, p *exec.VarArgs) *exec.Value {
			if in.IsError() || in.IsNil() {
				msg := "mandatory variable not defined"
				if len(p.Args) > 0 {
					msg = p.Args[0].String()
				}
				return exec.AsValue(fmt.Errorf("%w: %s", ErrUndefined, msg))
			}
			return in
		},
		"ternary": func(e *exec.Evaluator, in *exec.Value, p *exec.VarArgs) *exec.Value {
			if len(p.Args) < 2 {
				return exec.AsValue(errors.New("ternary needs two values"))
			}
			if !in.IsError() && Truthy(normalize(in.Interface())) {
				return used(p.Args[0])
			}
			return used(p.Args[1])
		},
		"dict2items": func(e *exec.Evaluator, in *exec.Value, p *exec.VarArgs) *exec.Value {
			if in.IsError() {
				return in
			}
			if d, ok := in.Interface().(*exec.Dict); ok {
				// A literal keeps its order, as Python's dicts do.
				out := []any{}
				for _, pair := range d.Pairs {
					out = append(out, map[string]any{"key": pair.Key.String(), "value": normalize(pair.Value)})
				}
				return exec.AsValue(out)
			}
			m, ok := normalize(in.Interface()).(map[string]any)
			if !ok {
				return exec.AsValue(errors.New("dict2items expects a mapping"))
			}
			out := []any{}
			for _, k := range sortedMapKeys(m) {
				out = append(out, map[string]any{"key": k, "value": m[k]})
			}
			return exec.AsValue(out)
		},
		// extract is Ansible's container lookup: 'a' | extract(hostvars, 'x') is hostvars['a']['x'].
		"extract": func(e *exec.Evaluator, in *exec.Value, p *exec.VarArgs) *exec.Value {
			if in.IsError() {
				return in
			}
			if len(p.Args) < 1 {
				return exec.AsValue(errors.New("extract needs a container"))
			}
			v := lookup(normalize(p.Args[0].Interface()), normalize(in.Interface()))
			for _, k := range p.Args[1:] {
				v = lookup(v, normalize(k.Interface()))
			}
			return exec.AsValue(v)
		},
		"split": func(e *exec.Evaluator, in *exec.Value, p *exec.VarArgs) *exec.Value {
			if in.IsError() {
				return in
			}
			sep := " "
			if len(p.Args) > 0 {
				sep = p.Args[0].String()
			}
			parts := strings.Split(in.String(), sep)
			out := make([]any, len(parts))
			for i, s := range parts {
				out[i] = s
			}
			return exec.AsValue(out)
		},
	}
}

func ansibleTests() map[string]exec.TestFunction {
	return map[string]exec.TestFunction{
		"succeeded": resultTest(func(r map[string]any) bool { return !Truthy(r["failed"]) }),
		"success":   resultTest(func(r map[string]any) bool { return !Truthy(r["failed"]) }),
		"failed":    resultTest(func(r map[string]any) bool { return Truthy(r["failed"]) }),
		"changed":   resultTest(func(r map[string]any) bool { return Truthy(r["changed"]) }),
		"skipped":   resultTest(func(r map[string]any) bool { return Truthy(r["skipped"]) }),
	}
}

func resultTest(fn func(map[string]any) bool) exec.TestFunction {
	return func(_ *exec.Context, in *exec.Value, _ *exec.VarArgs) (bool, error) {
		if in.IsError() {
			return false, errors.New(in.Error())
		}
		m, ok := normalize(in.Interface()).(map[string]any)
		if !ok {
			return false, errors.New("expects a registered task result")
		}
		return fn(m), nil
	}
}

func stringFilter(fn func(string) string) exec.FilterFunction {
	return func(e *exec.Evaluator, in *exec.Value, p *exec.VarArgs) *exec.Value {
		if in.IsError() {
			return in
		}
		return exec.AsValue(fn(in.String()))
	}
}

func jsonFilter(indent bool) exec.FilterFunction {
	return func(e *exec.Evaluator, in *exec.Value, p *exec.VarArgs) *exec.Value {
		if in.IsError() {
			return in
		}
		if indent {
			b, err := json.MarshalIndent(normalize(in.Interface()), "", "    ")
			if err != nil {
				return exec.AsValue(fmt.Errorf("to_nice_json: %w", err))
			}
			return exec.AsValue(string(b))
		}
		s, err := pyJSON(normalize(in.Interface()))
		if err != nil {
			return exec.AsValue(fmt.Errorf("to_json: %w", err))
		}
		return exec.AsValue(s)
	}
}

// defaultFilter is Jinja2's default(default_value=”, boolean=False): gonja's needs the
// value (devsec's handlers write `x | default() != "docker"`) and knows it as "default".
func defaultFilter(e *exec.Evaluator, in *exec.Value, p *exec.VarArgs) *exec.Value {
	if v, ok := p.KwArgs["default_value"]; ok && len(p.Args) == 0 {
		p.Args = []*exec.Value{v}
	}
	delete(p.KwArgs, "default_value")
	if len(p.Args) == 0 {
		p.Args = []*exec.Value{exec.AsValue("")}
	}
	if len(p.Args) > 1 {
		p.Args[1] = used(p.Args[1])
	}
	return used(jinjaDefault(e, in, p))
}

var (
	jinjaDefault, _ = builtins.Filters.Get("default")
	jinjaFirst, _   = builtins.Filters.Get("first")
	jinjaLast, _    = builtins.Filters.Get("last")
)

// seqEnd is Jinja2's first and last: of an empty sequence they are
// undefined, so `| first | default(None)` gives None, where gonja gives "".
// A filter cannot hand gonja an undefined value, so the result is None,
// which gonja's default replaces as it does an undefined one.
func seqEnd(gonja exec.FilterFunction) exec.FilterFunction {
	return func(e *exec.Evaluator, in *exec.Value, p *exec.VarArgs) *exec.Value {
		if !in.IsError() && in.CanSlice() && in.Len() == 0 {
			return exec.AsValue(nil)
		}
		return gonja(e, in, p)
	}
}

func yamlFilter(e *exec.Evaluator, in *exec.Value, p *exec.VarArgs) *exec.Value {
	if in.IsError() {
		return in
	}
	b, err := yaml.Marshal(normalize(in.Interface()))
	if err != nil {
		return exec.AsValue(fmt.Errorf("to_yaml: %w", err))
	}
	return exec.AsValue(string(b))
}

func lookup(container, key any) any {
	switch c := container.(type) {
	case map[string]any:
		return c[toString(key)]
	case []any:
		if i, ok := key.(int); ok && i >= 0 && i < len(c) {
			return c[i]
		}
	}
	return nil
}

// pyJSON writes JSON as Python's json.dumps does by default, with ", " and
// ": " between items, so to_json output matches Ansible's byte for byte
// (keys sorted, since gpuctl's mappings keep no order).
func pyJSON(v any) (string, error) {
	switch x := v.(type) {
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			s, err := pyJSON(e)
			if err != nil {
				return "", err
			}
			parts[i] = s
		}
		return "[" + strings.Join(parts, ", ") + "]", nil
	case map[string]any:
		parts := make([]string, 0, len(x))
		for _, k := range sortedMapKeys(x) {
			s, err := pyJSON(x[k])
			if err != nil {
				return "", err
			}
			key, _ := json.Marshal(k)
			parts = append(parts, string(key)+": "+s)
		}
		return "{" + strings.Join(parts, ", ") + "}", nil
	}
	b, err := json.Marshal(v)
	return string(b), err
}

// toBool is ansible-core's bool filter (to_bool): yes, on, 1 and true, in
// any case, and the number 1 are true; everything else is false, a
// non-empty list or an arbitrary string included, where Jinja2's
// truthiness would say true. None is false here (Ansible passes it through,
// and a condition reads it as false).
func toBool(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case string:
		switch strings.ToLower(x) {
		case "yes", "on", "1", "true":
			return true
		}
	case int:
		return x == 1
	case int64:
		return x == 1
	case float64:
		return x == 1
	}
	return false
}

// pyBasename is Python's os.path.basename, which Ansible's filter is: what
// follows the last slash, so "" for "" and for a trailing slash, where
// Go's path.Base gives "." and the last element.
// pyDirname is Python's posixpath.dirname: "" for a bare name, and a
// trailing slash only stripped, not a level up ("/a/b/" is "/a/b").
func pyDirname(s string) string {
	head := s[:strings.LastIndexByte(s, '/')+1]
	if head != "" && strings.Trim(head, "/") != "" {
		head = strings.TrimRight(head, "/")
	}
	return head
}

// ntSplitDrive is Python's ntpath.splitdrive: a drive letter or a UNC
// \\server\share prefix, and the rest.
func ntSplitDrive(s string) (drive, rest string) {
	isSep := func(c byte) bool { return c == '\\' || c == '/' }
	if len(s) >= 2 && isSep(s[0]) && isSep(s[1]) && (len(s) == 2 || !isSep(s[2])) {
		i := strings.IndexAny(s[2:], "\\/")
		if i < 0 {
			return s, ""
		}
		j := strings.IndexAny(s[2+i+1:], "\\/")
		if j < 0 {
			return s, ""
		}
		return s[:2+i+1+j], s[2+i+1+j:]
	}
	if len(s) >= 2 && s[1] == ':' {
		return s[:2], s[2:]
	}
	return "", s
}

// ntSplit is Python's ntpath.split: dirname and basename of a Windows path.
func ntSplit(s string) (head, tail string) {
	d, rest := ntSplitDrive(s)
	i := strings.LastIndexAny(rest, "\\/") + 1
	head, tail = rest[:i], rest[i:]
	if t := strings.TrimRight(head, "\\/"); t != "" {
		head = t
	}
	return d + head, tail
}

func pyBasename(s string) string {
	return s[strings.LastIndexByte(s, '/')+1:]
}
