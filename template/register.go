package template

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/nikolalohinski/gonja/v2/exec"
)

// moreFilters are the filters of ansible.builtin and ansible.utils that
// roles in the wild use, written over plain values.
func moreFilters() map[string]exec.FilterFunction {
	fs := map[string]func(any, []any, map[string]any) (any, error){
		"combine":              combine,
		"flatten":              flatten,
		"zip":                  zipFilter(false),
		"zip_longest":          zipFilter(true),
		"items2dict":           items2dict,
		"product":              product,
		"union":                setFilter(func(a, b bool) bool { return true }, true),
		"intersect":            setFilter(func(a, b bool) bool { return a && b }, false),
		"difference":           setFilter(func(a, b bool) bool { return !b }, false),
		"symmetric_difference": setFilter(func(a, b bool) bool { return a != b }, true),
		"regex_findall":        regexFindall,
		"regex_replace":        regexReplace,
		"regex_search":         regexSearch,
		"regex_escape":         regexEscape,
		"comment":              commentFilter,
		"hash":                 hashFilter,
		"checksum": func(in any, args []any, kw map[string]any) (any, error) {
			return hashFilter(in, nil, map[string]any{"hashtype": "sha1"})
		},
		"splitext":      splitext,
		"urlsplit":      urlsplit,
		"ipaddr":        ipQuery(0),
		"ipv4":          ipQuery(4),
		"ipv6":          ipQuery(6),
		"ipwrap":        ipwrap,
		"expanduser":    controllerPath(expandUser),
		"realpath":      controllerPath(realPath),
		"password_hash": passwordHash,
		"path_join":     pathJoin,
		"type_debug":    typeDebug,
		"version_compare": func(in any, args []any, kw map[string]any) (any, error) {
			return versionTest(in, args, kw)
		},
	}
	out := make(map[string]exec.FilterFunction, len(fs))
	for name, fn := range fs {
		out[name] = valueFilter(name, fn)
	}
	return out
}

func moreTests() map[string]func(any, []any, map[string]any) (bool, error) {
	tests := map[string]func(any, []any, map[string]any) (bool, error){
		"version":         spreadTuple(versionTest),
		"version_compare": spreadTuple(versionTest),
		"search":          spreadTuple(regexTest("search")),
		"match":           spreadTuple(regexTest("match")),
		"regex":           spreadTuple(regexTest("search")),
		"subset": func(in any, args []any, kw map[string]any) (bool, error) {
			return subset(in, args)
		},
		"superset": func(in any, args []any, kw map[string]any) (bool, error) {
			return subset(argOr(args, kw, 0, "", nil), []any{in})
		},
		// Path tests run on the controller, as Ansible's do.
		"abs":       pathTest(func(p string) bool { return filepath.IsAbs(p) }),
		"exists":    pathTest(func(p string) bool { _, err := os.Stat(p); return err == nil }),
		"file":      pathTest(func(p string) bool { fi, err := os.Stat(p); return err == nil && fi.Mode().IsRegular() }),
		"directory": pathTest(func(p string) bool { fi, err := os.Stat(p); return err == nil && fi.IsDir() }),
		"link":      pathTest(func(p string) bool { fi, err := os.Lstat(p); return err == nil && fi.Mode()&os.ModeSymlink != 0 }),
	}
	moreAnsibleTests(tests) // tests_more.go
	return tests
}

func pathTest(fn func(string) bool) func(any, []any, map[string]any) (bool, error) {
	return func(in any, _ []any, _ map[string]any) (bool, error) { return fn(toString(in)), nil }
}

// spreadTuple undoes gonja's reading of `x is version('1.2', '<')`: it
// parses the parentheses as one tuple argument, where Jinja2 sees two.
// These tests take strings first, so a list there is always that tuple.
func spreadTuple(fn func(any, []any, map[string]any) (bool, error)) func(any, []any, map[string]any) (bool, error) {
	return func(in any, args []any, kw map[string]any) (bool, error) {
		if len(args) == 1 {
			if l, ok := args[0].([]any); ok {
				args = l
			}
		}
		return fn(in, args, kw)
	}
}

func subset(in any, args []any) (bool, error) {
	a, err := listOf(in)
	if err != nil || len(args) < 1 {
		return false, err
	}
	b, err := listOf(args[0])
	if err != nil {
		return false, err
	}
	for _, x := range a {
		if !contains(b, x) {
			return false, nil
		}
	}
	return true, nil
}

func valueTest(fn func(any, []any, map[string]any) (bool, error)) exec.TestFunction {
	return func(_ *exec.Context, in *exec.Value, p *exec.VarArgs) (bool, error) {
		if in.IsError() {
			return false, in
		}
		args := make([]any, len(p.Args))
		for i, a := range p.Args {
			args[i] = normalize(a.Interface())
		}
		kw := map[string]any{}
		for k, v := range p.KwArgs {
			kw[k] = normalize(v.Interface())
		}
		args = takeKwargs(args, kw) // testkw.go
		return fn(normalize(in.Interface()), args, kw)
	}
}

// fqcnPrefixes are the collection names under which a playbook may spell a
// filter or test; each gpuctl filter answers to every one of them.
var fqcnPrefixes = []string{"ansible.builtin.", "ansible.utils.", "ansible.netcommon.", "community.general."}

// Filters and tests that run on the controller see its files, as Ansible's do.
func controllerPath(fn func(string) (string, error)) func(any, []any, map[string]any) (any, error) {
	return func(in any, args []any, kw map[string]any) (any, error) { return fn(toString(in)) }
}

func expandUser(p string) (string, error) {
	if p != "~" && !strings.HasPrefix(p, "~/") {
		return p, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return home + strings.TrimPrefix(p, "~"), nil
}

func realPath(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		return r, nil
	}
	return abs, nil
}
