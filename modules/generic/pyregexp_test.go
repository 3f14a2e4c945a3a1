package generic_test

import (
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/modules/moduletest"
)

// devsec's os_hardening task (tasks/pam.yml) on a Debian host's own
// /etc/pam.d/common-account: a Python lookahead with backrefs, as Ansible
// runs it. Check changes nothing, apply then a second apply change nothing
// more, and once applied the lookahead no longer matches. A lookbehind in
// replace and a backreference in blockinfile's insertafter keep the same
// timeline.
func TestPythonRegexpsOnHost(t *testing.T) {
	r := moduletest.Start(t, 1)[0]
	const pam = "/etc/pam.d/common-account"
	// the line as it is, trailing blanks included (Debian's ends in "pam_unix.so "): the
	// marker keeps Run's trimming off them
	pamLine := func() string {
		return strings.TrimSuffix(r.Run(t, "grep -E '^account.*pam_unix.so' "+pam+" | sed 's/$/|/'"), "|")
	}
	before := pamLine()
	if before == "" || strings.Contains(before, "no_pass_expiry") {
		t.Fatalf("unexpected %s: %q", pam, before)
	}
	r.Timeline(t, "lineinfile", map[string]any{
		"path": pam, "backrefs": true,
		"regexp": `^(account.*pam_unix.so(?!.*no_pass_expiry).*)$`, "line": `\1 no_pass_expiry`,
	}, pam)
	// Python's re gives the same: `.*` keeps the trailing blank, then " no_pass_expiry"
	if got := pamLine(); got != before+" no_pass_expiry" {
		t.Errorf("pam_unix line = %q, want %q", got, before+" no_pass_expiry")
	}

	const conf = "/etc/gpuctl-pyre.conf"
	r.Run(t, "printf 'key=a\\nkey2=b\\nkey=c\\n' > "+conf)
	r.Timeline(t, "replace", map[string]any{"path": conf, "regexp": `(?<=^key)=(?P<v>\w)$`, "replace": `: \g<v>`}, conf)
	r.Timeline(t, "blockinfile", map[string]any{"path": conf, "block": "x=1", "insertafter": `^(key)2=(?!\1)`}, conf)
	if got, want := r.Run(t, "cat "+conf), "key: a\nkey2=b\n# BEGIN ANSIBLE MANAGED BLOCK\nx=1\n# END ANSIBLE MANAGED BLOCK\nkey: c"; got != want {
		t.Errorf("%s:\n%s\nwant:\n%s", conf, got, want)
	}
	moduletest.BadArgs(t, "lineinfile", map[string]any{"path": conf, "regexp": `^(a(?!b)`, "line": "x"}, "missing ), unterminated subpattern")
}
