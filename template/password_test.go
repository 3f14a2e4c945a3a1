package template

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The hashes are what ansible-core 2.14 (crypt backend, no passlib) printed
// for `'secret' | password_hash(...)`; the last two are the SHA-crypt
// specification's own test vectors (akkadia.org/drepper/SHA-crypt.txt).
func TestPasswordHashLikeAnsible(t *testing.T) {
	e := New()
	cases := map[string]string{
		`'secret' | password_hash('sha512', 'mysalt')`:                        "$6$rounds=656000$mysalt$cDA0t8lm/qt.LT6DzpoHxJ.NwTpx.WTkOPwhseSva8pRixDSH2./ffedCjAMbTX1Uo1QNT7jJPJ6FIzU2i59K/",
		`'secret' | password_hash('sha256', 'mysalt', rounds=5000)`:           "$5$mysalt$I2SNajjJ3Gc5gIR/tkrLOGngF8wqv59buJCqxh.o9s8",
		`'secret' | password_hash('sha512', 'mysalt', rounds=10000)`:          "$6$rounds=10000$mysalt$9XTP7570fxVN/uTspSrH6kRPdR4KKGzGz7.TmJjDYGrKSwZuavW/3YaLur8JX6WP75Czcxa.megIO0lKreY0R.",
		`'Hello world!' | password_hash('sha512', 'saltstring', rounds=5000)`: "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
		`'Hello world!' | password_hash('sha256', 'saltstring', rounds=5000)`: "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5",
	}
	for expr, want := range cases {
		got, err := e.Eval(expr, map[string]any{})
		if err != nil || got != want {
			t.Errorf("%s = %v, %v; want %s", expr, got, err, want)
		}
	}
	got, err := e.Eval(`'x' | password_hash('sha512')`, map[string]any{})
	if err != nil || !regexp.MustCompile(`^\$6\$rounds=656000\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{86}$`).MatchString(got.(string)) {
		t.Errorf("random salt: %v %v", got, err)
	}
	if _, err := e.Eval(`'x' | password_hash('blowfish')`, map[string]any{}); err == nil || !strings.Contains(err.Error(), "sha512, sha256, md5") {
		t.Errorf("unsupported type: %v", err)
	}
}

func TestPasswordLookup(t *testing.T) {
	dir := t.TempDir()
	e := New()
	vars := map[string]any{"playbook_dir": dir}
	first, err := e.Eval(`lookup('password', 'creds/admin length=12 chars=digits')`, vars)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9]{12}$`).MatchString(first.(string)) {
		t.Fatalf("password = %q", first)
	}
	fi, err := os.Stat(filepath.Join(dir, "creds/admin"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("password file: %v %v", fi, err)
	}
	again, _ := e.Eval(`lookup('password', 'creds/admin length=12 chars=digits')`, vars)
	if again != first {
		t.Fatalf("second lookup %q, want the stored %q", again, first)
	}
	d1, _ := e.Eval(`lookup('password', '/dev/null')`, vars)
	d2, _ := e.Eval(`lookup('password', '/dev/null')`, vars)
	if len(d1.(string)) != 20 || d1 == d2 {
		t.Fatalf("/dev/null: %q %q", d1, d2)
	}
}

// lookup('template') renders from templates/ with the caller's variables;
// ansible-core 2.14 gave "Hello world 1 2\n" for the same file and vars.
func TestTemplateLookup(t *testing.T) {
	dir, _ := filepath.Abs("testdata/lookup")
	vars := map[string]any{"playbook_dir": dir, "who": "world", "nums": []any{1, 2}}
	got, err := New().Eval(`lookup('template', 'motd.j2')`, vars)
	if err != nil || got != "Hello world 1 2\n" {
		t.Fatalf("got %q, %v", got, err)
	}
}
