package template

import (
	"strings"
	"testing"
)

// Jinja2 reads string literals as Python does (an unknown escape such as \. or \d keeps its
// backslash) and newlines inside {{ }} and {% %} as white space. Real roles rely on both:
// community.zabbix writes regex_replace('\.', ”) and multi-line `when:` conditions that end a
// line with `or`.
func TestPythonStringsAndNewlines(t *testing.T) {
	e := New()
	vars := map[string]any{"v": "6.0", "s": map[string]any{"a": 1}, "port": "port 8080"}
	render := []struct{ in, want string }{
		{`{{ v | regex_replace('\.', '') }}`, "60"},
		{`{{ port | regex_search('\d+') }}`, "8080"},
		// Ansible's templar keeps a literal's backslashes in {{ }} (pystring.go)
		{`{{ 'a\\b' }}`, `a\\b`},
		{`{{ 'tab\there' }}`, `tab\there`},
		{`{{ "it\'s" }}`, `it\'s`},
		{"{{ 'x' if s.a == 1 and\n  v == '6.0' else 'y' }}", "x"},
		{"{% if s.a == 2 or\n  v == '6.0' %}yes{% endif %}", "yes"},
		{"text \\. and\nmore {{ v }}", "text \\. and\nmore 6.0"},
		{"{% raw %}{{ 'a\\.' or\n }}{% endraw %}", "{{ 'a\\.' or\n }}"},
		{"{{ 'line1\nline2' }}", "line1\nline2"},
	}
	for _, c := range render {
		got, err := e.RenderString(c.in, vars)
		if err != nil || got != c.want {
			t.Errorf("RenderString(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	conds := []string{
		"s['a'] is defined or\ns['b'] is defined\n",
		"s.a == 1 and\nv is defined",
	}
	for _, c := range conds {
		ok, err := e.EvalBool(c, vars)
		if err != nil || !ok {
			t.Errorf("EvalBool(%q) = %v, %v; want true", c, ok, err)
		}
	}
}

// jinjaSource's output reads the same when rewritten again as Jinja2 reads literals (Eval
// rewrites an expression, then the {% set %} around it), and text outside tags is never
// touched.
func FuzzJinjaSource(f *testing.F) {
	for _, s := range []string{`{{ v | regex_replace('\.', '') }}`, "{% if a or\nb %}x{% endif %}", "{# \\. #}", "{% raw %}{{ '\\.' }}{% endraw %}", `{{ "a\"b\.c" }}`, "plain \\. text\n", `{{ '\1\x41\N{BULLET}é\é' }}{% if '\1' %}{% endif %}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, mode := range []literalMode{rawLiterals, jinjaLiterals} {
			once, err := jinjaSource(s, mode)
			if err != nil {
				continue
			}
			if twice, err := jinjaSource(once, jinjaLiterals); err != nil || twice != once {
				t.Fatalf("not stable: %q -> %q -> %q, %v", s, once, twice, err)
			}
			if !strings.Contains(s, "{") && once != s {
				t.Fatalf("text without tags changed: %q -> %q", s, once)
			}
		}
	})
}
