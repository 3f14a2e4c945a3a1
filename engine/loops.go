package engine

import (
	"fmt"
	"slices"
	"strings"

	"github.com/gpuctl/gpuctl/playbooks"
)

// withLoop turns a with_<lookup> loop into its items as ansible-core's
// lookup plugins of the same name do.
func (e *Engine) withLoop(t *playbooks.Task, vars map[string]any) ([]any, error) {
	v, err := e.tpl.RenderValue(t.Loop, vars)
	if err != nil {
		return nil, fmt.Errorf("with_%s: %w", t.LoopWith, err)
	}
	sub := "files"
	if t.LoopWith == "first_found" {
		sub = lookupSubdir(t.Module)
	}
	var items []any
	if ownWith[t.LoopWith] {
		items, err = withItems(t.LoopWith, v, searchDirs(vars, sub))
	} else {
		items, err = e.tpl.Lookup(t.LoopWith, lookupTerms(v), vars) // flattened, varnames, env, ...
	}
	if err != nil {
		return nil, fmt.Errorf("with_%s: %w", t.LoopWith, err)
	}
	return items, nil
}

// ownWith are the with_ loops withItems runs; the loader lets through any other lookup
// plugin the template package has.
var ownWith = map[string]bool{"list": true, "dict": true, "indexed_items": true, "together": true, "nested": true,
	"cartesian": true, "subelements": true, "sequence": true, "fileglob": true, "first_found": true}

// lookupTerms are the terms a with_ loop hands its lookup plugin, as ansible-core's
// listify_lookup_plugin_terms makes them: a list as it is, anything else as a list of it.
func lookupTerms(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	return []any{v}
}

func withItems(kind string, v any, dirs []string) ([]any, error) {
	switch kind {
	case "list":
		return asList(v), nil
	case "dict":
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("expected a mapping, got %T", v)
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys) // Go maps keep no order; sorted is at least stable
		out := make([]any, len(keys))
		for i, k := range keys {
			out[i] = map[string]any{"key": k, "value": m[k]}
		}
		return out, nil
	case "indexed_items":
		l := flatten(asList(v), 1)
		out := make([]any, len(l))
		for i, x := range l {
			out[i] = []any{i, x}
		}
		return out, nil
	case "together":
		return together(asList(v)), nil
	case "nested", "cartesian":
		return nested(asList(v)), nil
	case "subelements":
		return subelements(asList(v))
	case "sequence":
		return sequence(v)
	case "fileglob":
		return fileglob(asList(v), dirs)
	case "first_found":
		return firstFound(v, dirs)
	}
	return nil, fmt.Errorf("unsupported loop with_%s", kind)
}

func asList(v any) []any {
	switch x := v.(type) {
	case []any:
		return x
	case nil:
		return []any{}
	case string:
		if x == "" {
			return []any{}
		}
	}
	return []any{v}
}

func flatten(l []any, depth int) []any {
	var out []any
	for _, x := range l {
		if sub, ok := x.([]any); ok && depth != 0 {
			out = append(out, flatten(sub, depth-1)...)
			continue
		}
		out = append(out, x)
	}
	return out
}

// together zips lists, padding the shorter ones with null.
func together(lists []any) []any {
	n := 0
	for _, l := range lists {
		n = max(n, len(asList(l)))
	}
	out := make([]any, n)
	for i := range n {
		row := make([]any, len(lists))
		for j, l := range lists {
			if ll := asList(l); i < len(ll) {
				row[j] = ll[i]
			}
		}
		out[i] = row
	}
	return out
}

func nested(lists []any) []any {
	out := []any{[]any{}}
	for _, l := range lists {
		var next []any
		for _, prefix := range out {
			for _, x := range asList(l) {
				next = append(next, append(slices.Clone(prefix.([]any)), x))
			}
		}
		out = next
	}
	if len(lists) == 0 {
		return []any{}
	}
	return out
}

// subelements: [list of mappings, "key"(, {skip_missing: bool})] gives
// [element, subitem] for each subitem of each element's key.
func subelements(args []any) ([]any, error) {
	if len(args) < 2 {
		return nil, fmt.Errorf("expects [list, subkey], got %v", args)
	}
	key, _ := args[1].(string)
	skip := false
	if len(args) > 2 {
		if o, ok := args[2].(map[string]any); ok {
			skip, _ = o["skip_missing"].(bool)
		}
	}
	var out []any
	for _, el := range asList(args[0]) {
		m, ok := el.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("element %v is not a mapping", el)
		}
		var sub any = m
		for _, k := range strings.Split(key, ".") {
			sm, _ := sub.(map[string]any)
			var found bool
			if sub, found = sm[k]; !found {
				break
			}
		}
		if sub == nil {
			if skip {
				continue
			}
			return nil, fmt.Errorf("could not find %q in %v (skip_missing: true skips it)", key, el)
		}
		for _, x := range asList(sub) {
			out = append(out, []any{el, x})
		}
	}
	return out, nil
}
