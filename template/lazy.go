package template

import (
	"reflect"

	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/nodes"
)

// Jinja2 evaluates a filter's arguments before the filter, but an
// undefined attribute (`mountinfo.device` with mountinfo None) is an
// Undefined value there, an error only once it is used. gonja fails at
// once, so `src | default(mountinfo.device, true)` failed even with src
// set (dev-sec's os_hardening). The filters that may leave an argument
// unused, default and ternary, get theirs through lazyFilterName instead,
// which turns an undefined argument into a lazyUndefined they give back
// as the error only if they choose it.

// lazyFilterName is a filter no template can name (it is not an
// identifier Jinja2 accepts in source).
const lazyFilterName = "gpuctl lazy"

// lazyFilters are the filters whose arguments are passed lazily, under
// every name they are known by.
var lazyFilters = map[string]bool{"default": true, "d": true, "ternary": true}

// lazyUndefined holds an argument's error until a filter uses it.
type lazyUndefined struct{ err *exec.Value }

func lazyFilter(_ *exec.Evaluator, in *exec.Value, _ *exec.VarArgs) *exec.Value {
	if in.IsError() {
		return exec.AsValue(lazyUndefined{in})
	}
	return in
}

// used returns v, or the error a lazily passed argument held.
func used(v *exec.Value) *exec.Value {
	if v == nil {
		return v
	}
	if l, ok := v.Interface().(lazyUndefined); ok {
		return l.err
	}
	return v
}

// lazyArgs rewrites the arguments of lazyFilters' calls in a parsed
// template to pass through lazyFilterName.
func lazyArgs(root *nodes.Template) {
	walkNodes(reflect.ValueOf(root), map[uintptr]bool{}, func(v reflect.Value) {
		fc, ok := v.Interface().(*nodes.FilterCall)
		if !ok || !lazyFilters[fc.Name] {
			return
		}
		for i, a := range fc.Args {
			fc.Args[i] = lazyWrap(fc, a)
		}
		for k, a := range fc.Kwargs {
			fc.Kwargs[k] = lazyWrap(fc, a)
		}
	})
}

func lazyWrap(fc *nodes.FilterCall, a nodes.Expression) nodes.Expression {
	if f, ok := a.(*nodes.FilteredExpression); ok && len(f.Filters) == 1 && f.Filters[0].Name == lazyFilterName {
		return a // a template parsed before (the cache keeps it)
	}
	return &nodes.FilteredExpression{Expression: a, Filters: []*nodes.FilterCall{{Token: fc.Token, Name: lazyFilterName}}}
}
