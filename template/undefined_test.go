package template

import (
	"errors"
	"strings"
	"testing"
)

// A missing key or attribute is named as ansible-core (Jinja2) names it,
// from the value looked up rather than the subscript as written: the
// messages below are ansible-playbook's own (ansible-core 2.14, `debug:
// msg="{{ ... }}"` with these vars). The expression stays in the message,
// so the user sees which part of it failed.
func TestUndefinedNamesTheMissingKey(t *testing.T) {
	vars := map[string]any{
		"sign_keys":            map[string]any{"60": map[string]any{"bullseye": map[string]any{"sign_key": "x"}}},
		"zabbix_short_version": "60", "ansible_distribution_release": "bookworm",
		"d": map[string]any{"a": 1}, "l": []any{1}, "s": "str", "n": nil,
	}
	for src, want := range map[string]string{
		"{{ sign_keys[zabbix_short_version][ansible_distribution_release]['sign_key'] }}": `'dict object' has no attribute 'bookworm' (at sign_keys[zabbix_short_version][ansible_distribution_release])`,
		"{{ d.b }}":         `'dict object' has no attribute 'b'`,
		"{{ d['b'] }}":      `'dict object' has no attribute 'b'`,
		"{{ d.b.c }}":       `'dict object' has no attribute 'b'`,
		"x {{ d.b }} y":     `'dict object' has no attribute 'b'`,
		"{{ l[3] }}":        `list object has no element 3`,
		"{{ d[3] }}":        `dict object has no element 3`,
		"{{ s.x }}":         `'str object' has no attribute 'x'`,
		"{{ n.x }}":         `'None' has no attribute 'x'`,
		"{{ d.b | upper }}": `'dict object' has no attribute 'b'`,
	} {
		_, err := New().Render(src, vars)
		if !errors.Is(err, ErrUndefined) {
			t.Errorf("%s: %v, want ErrUndefined", src, err)
			continue
		}
		inner := strings.TrimSuffix(strings.TrimPrefix(src, "{{ "), " }}")
		if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), inner) {
			t.Errorf("%s:\n got %v\nwant it to say %s and %q", src, err, want, inner)
		}
	}
	// A condition, as when: evaluates it.
	if _, err := New().EvalBool("d.b == 1", vars); err == nil || !strings.Contains(err.Error(), `'dict object' has no attribute 'b'`) {
		t.Errorf("when: %v", err)
	}
	// A key that only a loop of the template defines cannot be looked up
	// again from the vars: the message still names the subscript.
	_, err := New().Render("{% for k in ['z'] %}{{ d[k] }}{% endfor %}", vars)
	if !errors.Is(err, ErrUndefined) || !strings.Contains(err.Error(), "d[k]") {
		t.Errorf("loop variable: %v", err)
	}
}

// Finding the value of the missing key evaluates parts of the expression
// again: never a call (a lookup such as pipe would run its command twice).
func TestUndefinedDoesNotCallAgain(t *testing.T) {
	calls := 0
	vars := map[string]any{"d": map[string]any{}, "f": func() string { calls++; return "k" }}
	_, err := New().Render("{{ d[f()] }}", vars)
	if !errors.Is(err, ErrUndefined) || calls != 1 {
		t.Errorf("%v; f called %d times, want 1", err, calls)
	}
}

// default and ternary may leave an argument unused, and Jinja2 fails on an
// undefined argument only when it is used: dev-sec's os_hardening writes
// `mount.src | default(mountinfo.device, true)` with mountinfo None.
// ansible-core 2.14 gave the wanted values and errors.
func TestLazyFilterArguments(t *testing.T) {
	e := New()
	vars := map[string]any{"mount": map[string]any{"src": "/dev/a", "fstype": ""}, "mountinfo": nil, "yes_": true}
	for expr, want := range map[string]any{
		"mount.src | default(mountinfo.device, true)":                   "/dev/a",
		"mount.src | d(nothing.at.all)":                                 "/dev/a",
		"mount.src | default(default_value=mountinfo.device)":           "/dev/a",
		"yes_ | ternary(mount.src, mountinfo.device)":                   "/dev/a",
		"mount.missing | default(mount.src)":                            "/dev/a",
		"mount.fstype | default(mountinfo.fstype | default('x'), true)": "x",
	} {
		got, err := e.Eval(expr, vars)
		if err != nil || got != want {
			t.Errorf("%s = %v, %v; want %v", expr, got, err, want)
		}
	}
	for _, expr := range []string{
		"mount.fstype | default(mountinfo.fstype, true)",
		"mount.missing | default(nothing.at.all)",
		"(not yes_) | ternary(mount.src, mountinfo.device)",
	} {
		if got, err := e.Eval(expr, vars); err == nil {
			t.Errorf("%s = %v, want an error (the undefined argument is used)", expr, got)
		}
	}
}
