package template

import (
	"fmt"
	"testing"
)

// Conditional expressions as role defaults write them (community.mongodb's db_path): chained,
// parenthesized, without else, inside text, with filters; each result is what Jinja2 gives.
func TestConditionalExpressions(t *testing.T) {
	e := New()
	vars := map[string]any{"os": "RedHat", "n": 3, "tls": map[string]any{"unencrypted": 1, "psk": 2}, "mode": "unencrypted", "none": "", "d": map[string]any{"k": "v"}}
	for _, c := range []struct {
		src  string
		want any
	}{
		{"{{ '/var/lib/mongodb' if os == 'Debian' else '/var/lib/mongo' if os == 'RedHat' else '/srv' }}", "/var/lib/mongo"},
		{"{{ 'a' if os == 'x' else 'b' if os == 'y' else 'c' }}", "c"},
		{"{{ 'a' if os == 'RedHat' else 'b' if os == 'y' else 'c' }}", "a"},
		{"{{ n * 2 if n > 2 else 0 }}", 6},
		{"{{ [1, 2] if n == 3 else [] }}", []any{1, 2}},
		{"{{ 'x' if n == 4 }}", ""},
		{"{{ 'if' if os == 'RedHat' else 'else' }}", "if"},
		{"{{ 'A' if os == 'no' else 'b' if n == 3 else 'c' | upper }}", "b"},
		{"path={{ 'a' if os == 'x' else 'b' if os == 'RedHat' else 'c' }}/data", "path=b/data"},
		{"{{- 'a' if os == 'x' else 'b' if os == 'RedHat' else 'c' -}}", "b"},
		{"{{ {'k': 'v'} if n == 3 else {} }}", map[string]any{"k": "v"}},
		// Parenthesized conditionals inside a larger expression (gonja: "Unbalanced parenthesis").
		{"{{ ('a' if os == 'RedHat' | lower else 'b') }}", "b"},
		{"{{ 'x-' ~ ('a' if os == 'RedHat' else 'b') }}", "x-a"},
		{"{{ ('7' if n > 2 else '1') | int }}", 7},
		{"{{ [('a' if n > 2 else 'b'), 'c'] }}", []any{"a", "c"}},
		{"{{ ((n if n > 5 else 5) + 1) * 2 }}", 12},
		{"{{ not ('' if n > 2 else 'x') }}", true},
		{"{{ 'a' if n == 3 else ('b' if missing.attr else 'c') }}", "a"},
		{"dir=/{{ ('x' if n > 2 else 'y') }}/{{ ('p' if n < 2 else 'q') | upper }}", "dir=/x/Q"},
		{"[{{- ('a(' if n > 2 else ')') -}}]", "[a(]"},
		{"{{ '%s' | format('z' if n else 'w') }}", "z"},
		// community.zabbix's zabbix_agent: a conditional subscript, and in a list literal
		{"{{ tls[mode if mode else 'unencrypted'] }}", 1},
		{"{{ tls[none if none else 'unencrypted'] }}", 1},
		{"{{ ['a' if n > 2 else 'b', 'c' if n > 5 else 'd'] }}", []any{"a", "d"}},
		{"{{ d['k'] ~ [1, 2][0] | string }}", "v1"},
	} {
		got, err := e.Render(c.src, vars)
		if err != nil {
			t.Errorf("%s: %v", c.src, err)
			continue
		}
		if !equalValues(got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.src, got, c.want)
		}
	}
}

func equalValues(a, b any) bool {
	return fmt.Sprintf("%#v", a) == fmt.Sprintf("%#v", b)
}

// What a chained conditional reads is still found in the rewritten parse tree.
func TestConditionalRefs(t *testing.T) {
	refs, err := New().Refs("{{ 'a' if os == 'x' else b if n == 3 else c.d }}")
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(refs); got != "[b c.d n os]" {
		t.Fatalf("refs = %s", got)
	}
}

// Variables hoisted out of parenthesized conditionals are not reported as reads.
func TestParenthesizedConditionalRefs(t *testing.T) {
	refs, err := New().Refs("x={{ 'p-' ~ (a if b else c.d) | upper }} {{ f | format(g if h else 'k') }}")
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(refs); got != "[a b c.d f g h]" {
		t.Fatalf("refs = %s", got)
	}
}
