package template

import (
	"reflect"
	"testing"
)

// Values from ansible-core 2.14 with Debian's community.general (ansible-playbook).
func TestVarnamesAndFlattened(t *testing.T) {
	e := New()
	vars := map[string]any{"os_a": 1, "os_b": 2, "other": 3, "nested": []any{[]any{1, []any{2, []any{3}}}, "x"}, "none_v": nil}
	cases := map[string]any{
		`{{ lookup('varnames', '^os_') }}`:                                                                         "os_a,os_b",
		`{{ query('varnames', '^os_b$', '^other$') }}`:                                                             []any{"os_b", "other"},
		`{{ lookup('ansible.builtin.varnames', '^nope') }}`:                                                        "",
		`{{ q('varnames', '^' + 'os_a' + '$') | length }}`:                                                         1,
		`{{ lookup('community.general.flattened', [1,2,3,[5,6]], ['a','b','c'], [[5,6,1,3], [34,'a','b','c']]) }}`: "1,2,3,5,6,a,b,c,5,6,1,3,34,a,b,c",
		`{{ query('community.general.flattened', [1, ['None', 2], 3], [[[' s ']]], nested, none_v) }}`:             []any{1, 3, "s", 1, 2, 3, "x", nil},
		`{{ query('flattened', 'a', ['null', 'b'], 'c') }}`:                                                        []any{"a", "c"},
	}
	for src, want := range cases {
		got, err := e.Render(src, vars)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("Render(%s) = %#v, %v; want %#v", src, got, err, want)
		}
	}
	// a with_ loop's terms
	got, err := e.Lookup("community.general.flattened", []any{[]any{1, []any{2, 3}}, 4}, vars)
	if want := []any{1, 2, 3, 4}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("Lookup(flattened) = %#v, %v; want %#v", got, err, want)
	}
	got, err = e.Lookup("ansible.builtin.varnames", []any{"^os_"}, vars)
	if want := []any{"os_a", "os_b"}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("Lookup(varnames) = %#v, %v; want %#v", got, err, want)
	}
	if _, err := e.Render(`{{ lookup('varnames', '(?!') }}`, vars); err == nil {
		t.Error("varnames took a bad pattern")
	}
	if !IsLookup("community.general.flattened") || !IsLookup("varnames") || IsLookup("nope") {
		t.Error("IsLookup")
	}
}
