package template

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/nikolalohinski/gonja/v2/exec"
)

// valueFilter adapts a function of plain Go values (see normalize) to a
// gonja filter: positional arguments, keyword arguments, one result or an
// error.
func valueFilter(name string, fn func(in any, args []any, kw map[string]any) (any, error)) exec.FilterFunction {
	return func(e *exec.Evaluator, in *exec.Value, p *exec.VarArgs) *exec.Value {
		if in.IsError() {
			return in
		}
		args := make([]any, len(p.Args))
		for i, a := range p.Args {
			args[i] = normalize(a.Interface())
		}
		kw := map[string]any{}
		for k, v := range p.KwArgs {
			kw[k] = normalize(v.Interface())
		}
		out, err := fn(normalize(in.Interface()), args, kw)
		if err != nil {
			return exec.AsValue(fmt.Errorf("%s: %w", name, err))
		}
		return exec.AsValue(out)
	}
}

func listOf(v any) ([]any, error) {
	switch x := v.(type) {
	case []any:
		return x, nil
	case string:
		out := make([]any, 0, len(x))
		for _, r := range x {
			out = append(out, string(r))
		}
		return out, nil
	case map[string]any:
		out := make([]any, 0, len(x))
		for _, k := range sortedMapKeys(x) {
			out = append(out, k)
		}
		return out, nil
	}
	return nil, fmt.Errorf("expects a list, got %T", v)
}

func argOr(args []any, kw map[string]any, i int, name string, def any) any {
	if v, ok := kw[name]; ok {
		return v
	}
	if i < len(args) {
		return args[i]
	}
	return def
}

func contains(list []any, v any) bool {
	for _, x := range list {
		if reflect.DeepEqual(x, v) {
			return true
		}
	}
	return false
}

// combine merges mappings left to right as Ansible does; recursive merges
// nested mappings and list_merge says what happens to lists.
func combine(in any, args []any, kw map[string]any) (any, error) {
	recursive := Truthy(kw["recursive"])
	listMerge, _ := kw["list_merge"].(string)
	if listMerge == "" {
		listMerge = "replace"
	}
	var dicts []any
	for _, a := range append([]any{in}, args...) {
		if l, ok := a.([]any); ok {
			dicts = append(dicts, l...)
		} else {
			dicts = append(dicts, a)
		}
	}
	out := map[string]any{}
	for _, d := range dicts {
		m, ok := d.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("expects mappings, got %T", d)
		}
		out = merge(out, m, recursive, listMerge)
	}
	return out, nil
}

func merge(a, b map[string]any, recursive bool, listMerge string) map[string]any {
	out := make(map[string]any, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		old, had := out[k]
		am, aok := old.(map[string]any)
		bm, bok := v.(map[string]any)
		al, alok := old.([]any)
		bl, blok := v.([]any)
		switch {
		case had && recursive && aok && bok:
			out[k] = merge(am, bm, recursive, listMerge)
		case had && alok && blok:
			out[k] = mergeLists(al, bl, listMerge)
		default:
			out[k] = v
		}
	}
	return out
}

func mergeLists(a, b []any, how string) []any {
	switch how {
	case "keep":
		return a
	case "append":
		return append(append([]any{}, a...), b...)
	case "prepend":
		return append(append([]any{}, b...), a...)
	case "append_rp":
		out := []any{}
		for _, x := range a {
			if !contains(b, x) {
				out = append(out, x)
			}
		}
		return append(out, b...)
	case "prepend_rp":
		out := append([]any{}, b...)
		for _, x := range a {
			if !contains(b, x) {
				out = append(out, x)
			}
		}
		return out
	}
	return b
}

// flatten flattens nested lists, levels deep when given; like Ansible it
// drops None and null.
func flatten(in any, args []any, kw map[string]any) (any, error) {
	l, ok := in.([]any)
	if !ok {
		return nil, errors.New("expects a list")
	}
	levels := -1
	if v, ok := argOr(args, kw, 0, "levels", nil).(int); ok {
		levels = v
	}
	skipNulls := Truthy(argOr(args, kw, 1, "skip_nulls", true))
	return flattenN(l, levels, skipNulls), nil
}

func flattenN(l []any, levels int, skipNulls bool) []any {
	out := []any{}
	for _, x := range l {
		if skipNulls && (x == nil || x == "None") {
			continue
		}
		if sub, ok := x.([]any); ok && levels != 0 {
			out = append(out, flattenN(sub, levels-1, skipNulls)...)
			continue
		}
		out = append(out, x)
	}
	return out
}

func zipFilter(longest bool) func(any, []any, map[string]any) (any, error) {
	return func(in any, args []any, kw map[string]any) (any, error) {
		lists := [][]any{}
		for _, v := range append([]any{in}, args...) {
			l, err := listOf(v)
			if err != nil {
				return nil, err
			}
			lists = append(lists, l)
		}
		n := len(lists[0])
		for _, l := range lists {
			if longest && len(l) > n || !longest && len(l) < n {
				n = len(l)
			}
		}
		out := make([]any, n)
		for i := range out {
			row := make([]any, len(lists))
			for j, l := range lists {
				if i < len(l) {
					row[j] = l[i]
				} else {
					row[j] = kw["fillvalue"]
				}
			}
			out[i] = row
		}
		return out, nil
	}
}

// setFilter builds union, intersect, difference and symmetric_difference,
// which keep the first list's order and drop duplicates as Ansible does.
func setFilter(keep func(inA, inB bool) bool, withB bool) func(any, []any, map[string]any) (any, error) {
	return func(in any, args []any, kw map[string]any) (any, error) {
		if len(args) < 1 {
			return nil, errors.New("needs a second list")
		}
		a, err := listOf(in)
		if err != nil {
			return nil, err
		}
		b, err := listOf(args[0])
		if err != nil {
			return nil, err
		}
		out := []any{}
		add := func(x any) {
			if keep(contains(a, x), contains(b, x)) && !contains(out, x) {
				out = append(out, x)
			}
		}
		for _, x := range a {
			add(x)
		}
		if withB {
			for _, x := range b {
				add(x)
			}
		}
		return out, nil
	}
}

func items2dict(in any, args []any, kw map[string]any) (any, error) {
	l, ok := in.([]any)
	if !ok {
		return nil, errors.New("expects a list of mappings")
	}
	kn, _ := argOr(args, kw, 0, "key_name", "key").(string)
	vn, _ := argOr(args, kw, 1, "value_name", "value").(string)
	out := map[string]any{}
	for _, x := range l {
		m, ok := x.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("item %v is not a mapping", x)
		}
		out[toString(m[kn])] = m[vn]
	}
	return out, nil
}

// product is itertools.product: every combination of the lists' items.
func product(in any, args []any, kw map[string]any) (any, error) {
	out := [][]any{{}}
	for _, v := range append([]any{in}, args...) {
		l, err := listOf(v)
		if err != nil {
			return nil, err
		}
		var next [][]any
		for _, prefix := range out {
			for _, x := range l {
				next = append(next, append(append([]any{}, prefix...), x))
			}
		}
		out = next
	}
	res := make([]any, len(out))
	for i, r := range out {
		res[i] = r
	}
	return res, nil
}
