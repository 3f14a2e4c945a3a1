package template

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	gexec "github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/loaders"
)

// varGetter reads a variable of the template being rendered.
type varGetter func(name string) (any, bool)

func (g varGetter) str(name string) string {
	v, _ := g(name)
	s, _ := v.(string)
	return s
}

// Lookups run on the controller, as Ansible's do: they read its
// environment, files and commands. Relative paths are searched in the
// role, then beside the playbook, as Ansible's file lookups search.
type lookupFunc func(vars varGetter, terms []any, kw map[string]any) ([]any, error)

func lookups() map[string]lookupFunc {
	return map[string]lookupFunc{
		"env":         eachTerm(func(_ varGetter, t string) (any, error) { return os.Getenv(t), nil }),
		"vars":        eachTerm(lookupVar),
		"file":        eachTerm(lookupFile),
		"lines":       lookupLines,
		"pipe":        lookupLines,
		"fileglob":    lookupFileglob,
		"first_found": lookupFirstFound,
		"items":       func(_ varGetter, t []any, _ map[string]any) ([]any, error) { return flattenN(t, 2, false), nil },
		"list":        func(_ varGetter, t []any, _ map[string]any) ([]any, error) { return t, nil },
		"dict":        lookupDict,
		"password":    lookupPassword,
		"dig":         newDig().lookup,
		"flattened":   lookupFlattened,
		"varnames":    nil, // lists the caller's variables: lookupVarnames
		"template":    nil, // renders with the caller's variables: lookupTemplate
		// reads the run's inventory: Engine.lookupInventoryHostnames
		"inventory_hostnames": nil,
	}
}

func eachTerm(fn func(varGetter, string) (any, error)) lookupFunc {
	return func(vars varGetter, terms []any, _ map[string]any) ([]any, error) {
		out := make([]any, 0, len(terms))
		for _, t := range terms {
			v, err := fn(vars, toString(t))
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	}
}

func lookupVar(vars varGetter, name string) (any, error) {
	v, ok := vars(name)
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUndefined, name)
	}
	return v, nil
}

// controllerFile finds a relative path under files/ or directly in the
// role and playbook directories.
func controllerFile(vars varGetter, sub, name string) (string, bool) {
	if filepath.IsAbs(name) {
		_, err := os.Stat(name)
		return name, err == nil
	}
	for _, key := range []string{"role_path", "playbook_dir"} {
		base := vars.str(key)
		if base == "" {
			continue
		}
		for _, p := range []string{filepath.Join(base, sub, name), filepath.Join(base, name)} {
			if _, err := os.Stat(p); err == nil {
				return p, true
			}
		}
	}
	_, err := os.Stat(name)
	return name, err == nil
}

func lookupFile(vars varGetter, name string) (any, error) {
	p, ok := controllerFile(vars, "files", name)
	if !ok {
		return nil, fmt.Errorf("file lookup: %s not found on the controller", name)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("file lookup: %w", err)
	}
	return strings.TrimRight(string(b), "\n"), nil
}

// lookupLines runs each term with the shell (pipe returns the output,
// lines returns it line by line; both run on the controller).
func lookupLines(vars varGetter, terms []any, kw map[string]any) ([]any, error) {
	var out []any
	for _, t := range terms {
		cmd := exec.CommandContext(context.Background(), "/bin/sh", "-c", toString(t))
		if dir := vars.str("playbook_dir"); dir != "" {
			cmd.Dir = dir
		}
		b, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("lookup of command %q: %w", toString(t), err)
		}
		sc := bufio.NewScanner(strings.NewReader(string(b)))
		for sc.Scan() {
			out = append(out, sc.Text())
		}
	}
	return out, nil
}

func lookupFileglob(vars varGetter, terms []any, _ map[string]any) ([]any, error) {
	out := []any{}
	for _, t := range terms {
		pat := toString(t)
		dirs := []string{""}
		if !filepath.IsAbs(pat) {
			dirs = nil
			for _, key := range []string{"role_path", "playbook_dir"} {
				if base := vars.str(key); base != "" {
					dirs = append(dirs, filepath.Join(base, "files"), base)
				}
			}
		}
		for _, d := range dirs {
			m, err := filepath.Glob(filepath.Join(d, pat))
			if err != nil {
				return nil, err
			}
			sort.Strings(m)
			for _, p := range m {
				if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
					out = append(out, p)
				}
			}
			if len(m) > 0 {
				break
			}
		}
	}
	return out, nil
}

func lookupFirstFound(vars varGetter, terms []any, kw map[string]any) ([]any, error) {
	var names, paths []any
	for _, t := range terms {
		switch x := t.(type) {
		case map[string]any:
			n, _ := x["files"].([]any)
			p, _ := x["paths"].([]any)
			names, paths = append(names, n...), append(paths, p...)
		case []any:
			names = append(names, x...)
		default:
			names = append(names, x)
		}
	}
	if f, ok := kw["files"].([]any); ok {
		names = append(names, f...)
	}
	if p, ok := kw["paths"].([]any); ok {
		paths = append(paths, p...)
	}
	for _, n := range names {
		cands := []string{toString(n)}
		if len(paths) > 0 && !filepath.IsAbs(cands[0]) {
			cands = nil
			for _, p := range paths {
				cands = append(cands, filepath.Join(toString(p), toString(n)))
			}
		}
		for _, c := range cands {
			if p, ok := controllerFile(vars, "files", c); ok {
				return []any{p}, nil
			}
		}
	}
	if Truthy(kw["skip"]) {
		return []any{}, nil
	}
	return nil, errors.New("first_found: none of the files was found")
}

func lookupDict(_ varGetter, terms []any, _ map[string]any) ([]any, error) {
	var out []any
	for _, t := range terms {
		m, ok := t.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("dict lookup expects a mapping, got %T", t)
		}
		for _, k := range sortedMapKeys(m) {
			out = append(out, map[string]any{"key": k, "value": m[k]})
		}
	}
	return out, nil
}

// lookupCall builds lookup() (a string joined by commas unless wantlist)
// and query()/q() (always a list) over vars.
func lookupCall(list bool, te *Engine) func(*gexec.Evaluator, *gexec.VarArgs) *gexec.Value {
	return func(e *gexec.Evaluator, p *gexec.VarArgs) *gexec.Value {
		vars := varGetter(e.Environment.Context.Get)
		if len(p.Args) < 1 {
			return gexec.AsValue(errors.New("lookup needs a plugin name"))
		}
		name := lookupPlugin(toString(normalize(p.Args[0].Interface())))
		fn, ok := lookups()[name]
		switch name {
		case "template":
			fn = lookupTemplate(e)
		case "varnames":
			fn = lookupVarnames(contextNames(e.Environment.Context))
		case "inventory_hostnames":
			fn = te.lookupInventoryHostnames
		}
		if !ok {
			return gexec.AsValue(fmt.Errorf("lookup plugin %q is not supported (supported: %s)", name, strings.Join(LookupNames(), ", ")))
		}
		terms := make([]any, 0, len(p.Args)-1)
		for _, a := range p.Args[1:] {
			terms = append(terms, normalize(a.Interface()))
		}
		kw := map[string]any{}
		for k, v := range p.KwArgs {
			kw[k] = normalize(v.Interface())
		}
		out, err := fn(vars, terms, kw)
		if err != nil {
			return gexec.AsValue(fmt.Errorf("lookup(%q): %w", name, err))
		}
		if list || Truthy(kw["wantlist"]) {
			return gexec.AsValue(out)
		}
		if len(out) == 1 {
			return gexec.AsValue(out[0])
		}
		parts := make([]string, len(out))
		for i, v := range out {
			parts[i] = toString(v)
		}
		return gexec.AsValue(strings.Join(parts, ","))
	}
}

// LookupNames lists the lookup plugins gpuctl has, for the loader's errors.
func LookupNames() []string {
	var out []string
	for n := range lookups() {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// lookupFunctions are the global lookup(), query() and q(), and Jinja2's
// lower-case `none` literal, which gonja reads only as None.
func lookupFunctions(te *Engine) *gexec.Context {
	return gexec.NewContext(map[string]any{"lookup": lookupCall(false, te), "query": lookupCall(true, te), "q": lookupCall(true, te), "none": nil})
}

// lookupTemplate renders template files found as the template module finds
// them (the role's templates/, then the playbook's) with the variables of
// the template that calls the lookup.
func lookupTemplate(e *gexec.Evaluator) lookupFunc {
	return func(vars varGetter, terms []any, _ map[string]any) ([]any, error) {
		out := make([]any, 0, len(terms))
		for _, t := range terms {
			p, ok := controllerFile(vars, "templates", toString(t))
			if !ok {
				return nil, fmt.Errorf("template lookup: %s not found on the controller", toString(t))
			}
			src, err := os.ReadFile(p)
			if err != nil {
				return nil, fmt.Errorf("template lookup: %w", err)
			}
			base, err := loaders.NewFileSystemLoader(filepath.Dir(p))
			if err != nil {
				return nil, err
			}
			text, err := jinjaSource(string(src), jinjaLiterals)
			if err != nil {
				return nil, fmt.Errorf("template lookup %s: %w", p, err)
			}
			shifted, err := loaders.NewShiftedLoader(p, strings.NewReader(inFilters(fqcnRef.ReplaceAllString(text, "$1$2"))), base)
			if err != nil {
				return nil, err
			}
			tpl, err := gexec.NewTemplate(p, e.Config, shifted, e.Environment)
			if err != nil {
				return nil, fmt.Errorf("template lookup %s: %w", p, unwrapParse(err))
			}
			lazyArgs(tpl.Root())
			s, err := tpl.ExecuteToString(e.Environment.Context)
			if err != nil {
				return nil, fmt.Errorf("template lookup %s: %s", p, lastLine(err.Error()))
			}
			if want := trailingNewlines(text) - trailingNewlines(s); want > 0 {
				s += strings.Repeat("\n", want) // as renderString
			}
			out = append(out, s)
		}
		return out, nil
	}
}
