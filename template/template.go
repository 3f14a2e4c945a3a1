// Package template renders Jinja2 strings and expressions as Ansible does,
// on top of gonja: `{{ x }}` alone yields x's native value (a list stays a
// list), undefined variables are errors unless filtered through default, and
// Ansible's common filters (bool, to_json, regex_replace, ...) exist.
package template

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/nikolalohinski/gonja/v2"
	"github.com/nikolalohinski/gonja/v2/builtins"
	"github.com/nikolalohinski/gonja/v2/config"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/loaders"
)

// ErrUndefined marks a reference to a variable that is not defined.
var ErrUndefined = errors.New("undefined variable")

// Engine renders templates. It is safe for concurrent use.
type Engine struct {
	env *exec.Environment
	cfg *config.Config
	mu  sync.Mutex
	// cache of parsed templates by source; parsing dominates rendering
	cache map[string]*exec.Template
	// every filter and test name, for Unknown's suggestions
	filterNames, testNames []string
	// the run's inventory, for the inventory_hostnames lookup (guarded by mu)
	hostPatterns HostPatterns
	// FilterResolver, when set, finds a Python filter plugin for a filter
	// name gpuctl lacks (the loader's: collections and filter_plugins/);
	// Unknown adds what it finds instead of reporting it.
	FilterResolver func(name string) (PythonFilter, bool)
	python         []PythonFilter // added by AddPythonFilter
}

// New returns an engine with Jinja2's builtins and Ansible's common filters.
func New() *Engine {
	cfg := config.New()
	cfg.StrictUndefined = true
	cfg.KeepTrailingNewline = true
	// ansible-core templates with trim_blocks on, module arguments and the
	// template module alike: the newline after a block tag goes.
	cfg.TrimBlocks = true
	filterMap := map[string]exec.FilterFunction{} // the set writes into it: names for Unknown
	filters := exec.NewFilterSet(filterMap)
	filters.Update(builtins.Filters)
	own := ansibleFilters()
	for name, fn := range moreFilters() {
		own[name] = fn
	}
	for name, fn := range own {
		registerFilter(filters, name, fn)
	}
	testMap := map[string]exec.TestFunction{}
	tests := exec.NewTestSet(testMap)
	tests.Update(builtins.Tests)
	ownTests := ansibleTests()
	for name, fn := range moreTests() {
		ownTests[name] = valueTest(fn)
	}
	for name, fn := range ownTests {
		for _, n := range append([]string{name}, fqcnNames(name)...) {
			if tests.Exists(n) {
				_ = tests.Replace(n, fn)
			} else {
				_ = tests.Register(n, fn)
			}
		}
	}
	te := &Engine{cfg: cfg, cache: map[string]*exec.Template{}, filterNames: keys(filterMap), testNames: keys(testMap)}
	_ = filters.Register(lazyFilterName, lazyFilter) // lazy.go; after filterNames, which suggest names
	te.env = &exec.Environment{
		Context:           exec.EmptyContext().Update(builtins.GlobalFunctions).Update(builtins.GlobalVariables).Update(lookupFunctions(te)),
		Filters:           filters,
		Tests:             tests,
		ControlStructures: builtins.ControlStructures,
		Methods:           builtins.Methods,
	}
	return te
}

// registerFilter registers fn under name and its FQCN spellings.
func registerFilter(filters *exec.FilterSet, name string, fn exec.FilterFunction) {
	for _, n := range append([]string{name}, fqcnNames(name)...) {
		if filters.Exists(n) {
			_ = filters.Replace(n, fn)
		} else {
			_ = filters.Register(n, fn)
		}
	}
}

func fqcnNames(name string) []string {
	out := make([]string, len(fqcnPrefixes))
	for i, p := range fqcnPrefixes {
		out[i] = p + name
	}
	return out
}

// IsTemplate reports whether s contains Jinja2 markup.
func IsTemplate(s string) bool {
	return strings.Contains(s, "{{") || strings.Contains(s, "{%")
}

// RenderString renders s, a playbook string, to text. Its {{ }} blocks' string literals
// keep their backslashes, as Ansible's templar keeps them (pystring.go).
func (e *Engine) RenderString(s string, vars map[string]any) (string, error) {
	return e.renderString(s, vars, rawLiterals)
}

// RenderFile renders a template file's text (the template module's, k8s's), where string
// literals read as Jinja2 reads them.
func (e *Engine) RenderFile(s string, vars map[string]any) (string, error) {
	return e.renderString(s, vars, jinjaLiterals)
}

func (e *Engine) renderString(s string, vars map[string]any, mode literalMode) (string, error) {
	if !IsTemplate(s) {
		return s, nil
	}
	t, err := e.parse(s, mode)
	if err != nil {
		return "", err
	}
	out, err := t.ExecuteToString(e.context(vars))
	if err != nil {
		return "", e.cleanErr(s, err, vars)
	}
	// ansible-core's templar puts back the source's trailing newlines, which
	// trim_blocks takes after a closing "{% endif %}" (do_template's
	// preserve_trailing_newlines)
	if want := trailingNewlines(s) - trailingNewlines(out); want > 0 {
		out += strings.Repeat("\n", want)
	}
	return out, nil
}

// Render renders s; when s is exactly one `{{ expr }}` the expression's
// native value is returned, as Ansible does for loops and registered data.
//
// As ansible-core's templar, a trailing newline is not text after the
// expression (Jinja2 drops one, and the templar puts the source's trailing
// newlines back on a string result): "{{ x }}\n" is x's value, and when that
// is a string, it ends with the newline.
func (e *Engine) Render(s string, vars map[string]any) (any, error) {
	if expr, ok := soleExpression(strings.TrimSuffix(s, "\n")); ok {
		v, err := e.eval(expr, vars, rawLiterals)
		if str, isStr := v.(string); isStr && err == nil {
			if want := trailingNewlines(s) - trailingNewlines(str); want > 0 {
				v = str + strings.Repeat("\n", want)
			}
		}
		return v, err
	}
	return e.RenderString(s, vars)
}

func trailingNewlines(s string) int {
	return len(s) - len(strings.TrimRight(s, "\n"))
}

// Eval evaluates a bare Jinja2 expression (as in `when:`) to a Go value. Its string
// literals read as Jinja2 reads them, as in Ansible's conditions.
func (e *Engine) Eval(expr string, vars map[string]any) (any, error) {
	return e.eval(expr, vars, jinjaLiterals)
}

func (e *Engine) eval(expr string, vars map[string]any, mode literalMode) (any, error) {
	var captured any
	orig := expr
	expr, err := exprSource(expr, mode)
	if err != nil {
		return nil, fmt.Errorf("expression %q: template syntax: %w", orig, err)
	}
	ctx := e.context(vars)
	// The value goes in a one-item list: gonja cannot pass a None on its own to a Go
	// function (regex_search finding nothing, a variable set to null).
	ctx.Set("__gpuctl_capture", func(v any) string {
		if l, ok := normalize(v).([]any); ok && len(l) == 1 {
			captured = l[0]
		}
		return ""
	})
	src := setStatement("__gpuctl_v", expr) + "{{ __gpuctl_capture([__gpuctl_v]) }}" // conditional.go
	t, err := e.parse(src, jinjaLiterals)
	if err != nil {
		return nil, fmt.Errorf("expression %q: %w", orig, unwrapParse(err))
	}
	if _, err := t.ExecuteToString(ctx); err != nil {
		return nil, e.cleanErr(orig, err, vars)
	}
	return normalize(captured), nil
}

// EvalBool evaluates a condition with Jinja2 truthiness.
func (e *Engine) EvalBool(expr string, vars map[string]any) (bool, error) {
	expr = strings.TrimSpace(expr)
	if inner, ok := soleExpression(expr); ok {
		expr = inner
	}
	v, err := e.Eval(expr, vars)
	if err != nil {
		return false, err
	}
	return Truthy(v), nil
}

// RenderValue renders every string inside v (maps and lists recursively).
func (e *Engine) RenderValue(v any, vars map[string]any) (any, error) {
	switch x := v.(type) {
	case string:
		return e.Render(x, vars)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			r, err := e.RenderValue(val, vars)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, val := range x {
			r, err := e.RenderValue(val, vars)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	}
	return v, nil
}

// otherFQCN finds the filter names of other collections (`|
// community.sops._latest_version`), which gonja's lexer cannot read as one
// name: they are spelled with fqSep for the dots (mangleFQCN), the name
// their Python filter is registered under too (pyfilter.go).
var otherFQCN = regexp.MustCompile(`(\|\s*)([A-Za-z_]\w*)\.([A-Za-z_]\w*)\.([A-Za-z_]\w*)`)

const fqSep = "__fq__"

func mangleFQCN(name string) string   { return strings.ReplaceAll(name, ".", fqSep) }
func unmangleFQCN(name string) string { return strings.ReplaceAll(name, fqSep, ".") }

// fqcnRef finds collection-qualified filter and test names
// (`| ansible.builtin.combine`, `is ansible.builtin.version`), which
// gonja's parser does not take; the short name is the same function.
var fqcnRef = regexp.MustCompile(`(\|\s*|\bis\s+(?:not\s+)?)(?:ansible\.builtin|ansible\.utils|ansible\.netcommon|community\.general)\.([A-Za-z_])`)

// parse parses src, reading the string literals of its {{ }} blocks by mode.
func (e *Engine) parse(src string, mode literalMode) (*exec.Template, error) {
	src, err := jinjaSource(src, mode)
	if err != nil {
		return nil, fmt.Errorf("template syntax: %w", err)
	}
	src = chainedConditionals(testKwargs(inFilters(otherFQCN.ReplaceAllString(fqcnRef.ReplaceAllString(src, "$1$2"), "${1}${2}"+fqSep+"${3}"+fqSep+"${4}"))))
	e.mu.Lock()
	t, ok := e.cache[src]
	e.mu.Unlock()
	if ok {
		return t, nil
	}
	loader, err := loaders.NewFileSystemLoader("")
	if err != nil {
		return nil, err
	}
	shifted, err := loaders.NewShiftedLoader("inline", strings.NewReader(src), loader)
	if err != nil {
		return nil, err
	}
	t, err = exec.NewTemplate("inline", e.cfg, shifted, e.env)
	if err != nil {
		return nil, fmt.Errorf("template syntax: %w", unwrapParse(err))
	}
	lazyArgs(t.Root()) // lazy.go
	e.mu.Lock()
	if len(e.cache) > 4096 {
		e.cache = map[string]*exec.Template{}
	}
	e.cache[src] = t
	e.mu.Unlock()
	return t, nil
}

func (e *Engine) context(vars map[string]any) *exec.Context {
	return exec.NewContext(vars)
}

// soleExpression reports whether s is exactly one `{{ ... }}` block.
func soleExpression(s string) (string, bool) {
	t := strings.TrimSpace(s)
	if !strings.HasPrefix(t, "{{") || !strings.HasSuffix(t, "}}") {
		return "", false
	}
	inner := t[2 : len(t)-2]
	// whitespace control marks ({{- x -}}) trim text around the block; there is none
	inner = strings.TrimSuffix(strings.TrimPrefix(inner, "-"), "-")
	if strings.Contains(inner, "{{") || strings.Contains(inner, "}}") || strings.Contains(inner, "{%") {
		return "", false
	}
	return strings.TrimSpace(inner), true
}

// Truthy applies Jinja2/Python truthiness, plus Ansible's string words.
func Truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "", "false", "no", "off", "0", "n", "none":
			return false
		}
		return true
	case int:
		return x != 0
	case int64:
		return x != 0
	case float64:
		return x != 0
	case []any:
		return len(x) > 0
	case map[string]any:
		return len(x) > 0
	}
	return true
}

// cleanErr turns gonja's error chain into one message; a missing variable,
// key or attribute wraps ErrUndefined and, where it can, is named as
// Ansible names it (see missingKey).
func (e *Engine) cleanErr(src string, err error, vars map[string]any) error {
	msg := err.Error()
	if why, ok := e.missingKey(src, msg, vars); ok {
		return fmt.Errorf("%w in %q: %s", ErrUndefined, excerpt(src, msg), why)
	}
	if m := unknownFilterRE.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("unknown filter %q in %q", m[1], excerpt(src, msg))
	}
	src = excerpt(src, msg)
	if strings.Contains(msg, "Unable to evaluate name") || strings.Contains(msg, "not found") {
		if i := strings.Index(msg, `Unable to evaluate name "`); i >= 0 {
			rest := msg[i+len(`Unable to evaluate name "`):]
			if j := strings.Index(rest, `"`); j >= 0 {
				return fmt.Errorf("%w %q in %q", ErrUndefined, rest[:j], src)
			}
		}
		return fmt.Errorf("%w in %q: %s", ErrUndefined, src, lastLine(msg))
	}
	return fmt.Errorf("template %q: %s", src, lastLine(msg))
}

var (
	unknownFilterRE = regexp.MustCompile(`filter '([^']+)' not found`)
	errLineRE       = regexp.MustCompile(`at line (\d+)`)
)

// excerpt is what an error quotes of a template: all of a short one, the
// line the error names (or the first) of a template file, whose whole text
// would bury the message.
func excerpt(src, msg string) string {
	if len(src) <= 200 && !strings.Contains(src, "\n") {
		return src
	}
	lines := strings.Split(src, "\n")
	n := 1
	if m := errLineRE.FindStringSubmatch(msg); m != nil {
		if i, err := strconv.Atoi(m[1]); err == nil && i >= 1 && i <= len(lines) {
			n = i
		}
	}
	l := lines[n-1]
	if len(l) > 160 {
		l = l[:160] + "…"
	}
	return fmt.Sprintf("line %d of %d: %s", n, len(lines), l)
}

func unwrapParse(err error) error {
	return errors.New(lastLine(err.Error()))
}

func lastLine(msg string) string {
	msg = strings.TrimSpace(msg)
	if i := strings.LastIndex(msg, ": "); i >= 0 && len(msg)-i < 200 {
		// gonja wraps errors in long chains; the innermost cause is last
	}
	if len(msg) > 400 {
		msg = msg[len(msg)-400:]
	}
	return msg
}

// keep gonja's own package imported so its init (builtins) runs once
var _ = gonja.DefaultConfig
