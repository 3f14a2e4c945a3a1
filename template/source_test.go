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
		{`{{ 'a\\b' }}`, `a\b`},
		{`{{ 'tab\there' }}`, "tab\there"},
		{`{{ "it\'s" }}`, "it's"},
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

// jinjaSource only ever adds backslashes inside literals and turns newlines in tags into
// spaces: applying it twice changes nothing more, and text outside tags is never touched.
func FuzzJinjaSource(f *testing.F) {
	for _, s := range []string{`{{ v | regex_replace('\.', '') }}`, "{% if a or\nb %}x{% endif %}", "{# \\. #}", "{% raw %}{{ '\\.' }}{% endraw %}", `{{ "a\"b\.c" }}`, "plain \\. text\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		once := jinjaSource(s)
		if twice := jinjaSource(once); twice != once {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, once, twice)
		}
		if !strings.Contains(s, "{") && once != s {
			t.Fatalf("text without tags changed: %q -> %q", s, once)
		}
	})
}
