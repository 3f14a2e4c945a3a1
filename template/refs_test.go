package template

import (
	"slices"
	"testing"
)

func TestRefs(t *testing.T) {
	e := New()
	for _, tc := range []struct {
		src  string
		want []string
	}{
		{"no markup, w.changed", nil},
		{"{{ w.changed }}", []string{"w.changed"}},
		{"x {{ hostvars['a'].join.stdout }} {{ groups['gpu'][0] }}", []string{"groups.gpu.0", "hostvars.a.join.stdout"}},
		{"{{ hostvars[item]['token'] | default('') }}", []string{"hostvars.*.token", "item"}},
		// a literal word equal to a variable's name is not a reference
		{"{{ 'w' ~ name }}", []string{"name"}},
		{"{{ out.results | map(attribute='stdout') | join(',') }}", []string{"out.results"}},
		{"{% for u in users %}{{ u.name }}{% endfor %}", []string{"u.name", "users"}},
		{"{% set x = reg.stdout %}{{ x }}", []string{"reg.stdout", "x"}},
		{"{{ a if b else c[d] }}", []string{"a", "b", "c.*", "d"}},
		{"{{ lookup('env', 'HOME') ~ x.split(',')[0] }}", []string{"lookup", "x", "x.split"}},
	} {
		got, err := e.Refs(tc.src)
		if err != nil {
			t.Errorf("Refs(%q): %v", tc.src, err)
			continue
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("Refs(%q) = %q, want %q", tc.src, got, tc.want)
		}
	}
}

func TestExprRefs(t *testing.T) {
	e := New()
	got, err := e.ExprRefs("result.rc != 0 and 'x' in inventory_hostname")
	if err != nil || !slices.Equal(got, []string{"inventory_hostname", "result.rc"}) {
		t.Fatalf("ExprRefs = %q, %v", got, err)
	}
	if _, err := e.ExprRefs("a ==="); err == nil {
		t.Fatal("syntax error not reported")
	}
}
