package template

import (
	"errors"
	"reflect"
	"testing"
)

func TestRender(t *testing.T) {
	e := New()
	vars := map[string]any{
		"inventory_hostname": "gpu-1",
		"pkgs":               []any{"a", "b"},
		"reg":                map[string]any{"stdout": "Hello\n", "rc": 0, "changed": true},
		"flag":               "yes",
		"n":                  "42",
	}
	cases := []struct {
		in   string
		want any
	}{
		{"plain", "plain"},
		{"host {{ inventory_hostname }}", "host gpu-1"},
		{"{{ pkgs }}", []any{"a", "b"}},
		{"{{ pkgs | join(',') }}", "a,b"},
		{"{{ missing | default('x') }}", "x"},
		{"{{ reg.stdout | lower }}", "hello\n"},
		{"{{ reg.rc }}", 0},
		{"{{ flag | bool }}", true},
		{"{{ n | int + 1 }}", 43},
		{"{{ 'a-b' | regex_replace('-(b)', '_\\1') }}", "a_b"},
		{"{{ 'a-b' | regex_replace('-(b)', '_\\\\1') }}", "a_\\1"}, // as ansible-core 2.14 renders it
		{"{{ {'a': 1} | to_json }}", `{"a": 1}`},
		{"{% if reg is changed %}c{% endif %}", "c"},
	}
	for _, c := range cases {
		got, err := e.Render(c.in, vars)
		if err != nil {
			t.Errorf("Render(%q): %v", c.in, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("Render(%q) = %#v, want %#v", c.in, got, c.want)
		}
	}
}

func TestUndefined(t *testing.T) {
	e := New()
	for _, s := range []string{"{{ nope }}", "x {{ nope }} y", "{{ reg.nope }}"} {
		_, err := e.Render(s, map[string]any{"reg": map[string]any{}})
		if !errors.Is(err, ErrUndefined) {
			t.Errorf("Render(%q) err = %v, want ErrUndefined", s, err)
		}
	}
}

func TestEvalBool(t *testing.T) {
	e := New()
	vars := map[string]any{"os": "Debian", "r": map[string]any{"rc": 1, "failed": true}, "empty": []any{}}
	cases := map[string]bool{
		"os == 'Debian'":          true,
		"os != 'Debian'":          false,
		"r.rc != 0":               true,
		"r is failed":             true,
		"undefined_x is defined":  false,
		"empty":                   false,
		"{{ os == 'Debian' }}":    true,
		"'x' in ['x','y']":        true,
		"os == 'Debian' and r.rc": true,
	}
	for expr, want := range cases {
		got, err := e.EvalBool(expr, vars)
		if err != nil {
			t.Errorf("EvalBool(%q): %v", expr, err)
			continue
		}
		if got != want {
			t.Errorf("EvalBool(%q) = %v, want %v", expr, got, want)
		}
	}
}

func TestInlineIf(t *testing.T) {
	e := New()
	got, err := e.Render("{{ 'a' if x == 1 else 'b' }}", map[string]any{"x": 1})
	if err != nil || got != "a" {
		t.Fatalf("got %v, %v", got, err)
	}
}
