package template

import (
	"strings"
	"testing"
)

// How string literals read, in each place: the values come from Jinja2 3.1 (python3 -c
// "jinja2.Environment().from_string(...)") for template files and conditions, and from
// ansible-core 2.14's ansible-playbook for {{ }} in playbook strings.
func TestStringLiterals(t *testing.T) {
	e := New()
	vars := map[string]any{
		"v":   "6.0",
		"raw": "OpenSSH_8.9p1 Ubuntu-3ubuntu0.1, OpenSSL 3.0.2 15 Mar 2022",
	}
	// Jinja2: a template file, and a {% %} block anywhere.
	jinja := []struct{ lit, want string }{
		{`'\1'`, "\x01"},
		{`'\d'`, `\d`},
		{`'a\\b'`, `a\b`},
		{`'tab\there'`, "tab\there"},
		{`"it\'s"`, "it's"},
		{`'\x41\101\u00e9\N{BULLET}'`, "AAé•"},
		{`'é\é'`, `é\xe9`},
		{`'\777'`, "\u01ff"},
		{`'\0'`, "\x00"},
		{`'\.'`, `\.`},
		{"'a\\\nb'", "ab"},
		{`'\N{em dash}'`, "—"},
	}
	for _, c := range jinja {
		src := "{{ " + c.lit + " }}"
		if got, err := e.RenderFile(src, vars); err != nil || got != c.want {
			t.Errorf("RenderFile(%q) = %q, %v; want %q", src, got, err, c.want)
		}
		src = "{% set x = " + c.lit + " %}{{ x }}"
		if got, err := e.RenderString(src, vars); err != nil || got != c.want {
			t.Errorf("RenderString(%q) = %q, %v; want %q", src, got, err, c.want)
		}
		if got, err := e.Eval(c.lit+" == x", map[string]any{"x": c.want}); err != nil || got != true {
			t.Errorf("Eval(%s == %q) = %v, %v; want true", c.lit, c.want, got, err)
		}
	}
	for lit, msg := range map[string]string{`'\x4'`: `truncated \xXX escape`, `'\u12'`: `truncated \uXXXX escape`, `'\N{NOPE}'`: "unknown Unicode character name", `'\N'`: `malformed \N character escape`} {
		if _, err := e.RenderFile("{{ "+lit+" }}", vars); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("RenderFile({{ %s }}) err = %v, want %q", lit, err, msg)
		}
		if _, err := e.EvalBool(lit, vars); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("EvalBool(%s) err = %v, want %q", lit, err, msg)
		}
	}
	// Ansible: {{ }} in a playbook string keeps every backslash of a literal.
	playbook := []struct{ src, want string }{
		{`{{ 'a\\b' }}`, `a\\b`},
		{`{{ 'tab\there' }}`, `tab\there`},
		{`{{ "it\'s" }}`, `it\'s`},
		{`{{ 'a-b' | regex_replace('-(b)', '_\\1') }}`, `a_\1`},
		{`{{ 'a-b' | regex_replace('-(b)', '_\1') }}`, "a_b"},
		{`{{ v | regex_replace('\.', '') }}`, "60"},
		{`{{ '\x41' ~ '\101' ~ '\u00e9' ~ '\N{BULLET}' ~ 'é\d' }}`, `\x41\101\u00e9\N{BULLET}é\d`},
		// devsec ssh_hardening tasks/hardening.yml, as YAML's "\\1" hands it over
		{`{{ raw | regex_replace('.*_([0-9]*.[0-9]).*', '\1') }}`, "8.9"},
		{`x {{ '\x4' }} {% set y = 'a\bc' %}{{ y }}`, "x \\x4 a\bc"},
	}
	for _, c := range playbook {
		if got, err := e.Render(c.src, vars); err != nil || got != c.want {
			t.Errorf("Render(%q) = %q, %v; want %q", c.src, got, err, c.want)
		}
	}
	// when: is a {% if %} in Ansible: Jinja2's reading ('a\1' is two characters).
	if ok, err := e.EvalBool(`'a\1' | length == 2`, vars); err != nil || !ok {
		t.Errorf(`EvalBool('a\1' | length == 2) = %v, %v; want true`, ok, err)
	}
}

// default() with no argument is default(”), as in Jinja2 (devsec's handlers).
func TestDefaultWithoutArgument(t *testing.T) {
	e := New()
	vars := map[string]any{"molecule_yml": map[string]any{"driver": map[string]any{}}, "x": "set"}
	cases := map[string]any{
		`{{ molecule_yml.driver.name | default() != "docker" }}`: true,
		`{{ nope | default() }}`:                                 "",
		`{{ nope | d() }}`:                                       "",
		`{{ x | default() }}`:                                    "set",
		`{{ nope | default(default_value='k') }}`:                "k",
		`{{ '' | default('e', true) }}`:                          "e",
	}
	for src, want := range cases {
		if got, err := e.Render(src, vars); err != nil || got != want {
			t.Errorf("Render(%s) = %#v, %v; want %#v", src, got, err, want)
		}
	}
}
