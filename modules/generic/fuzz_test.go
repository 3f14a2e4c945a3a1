package generic

import (
	"slices"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/conn"

	"github.com/gpuctl/gpuctl/internal/pyre"
)

// Words split from a command line, quoted again by conn.Join and split
// once more, come back unchanged: what reaches the shell is what was meant.
func FuzzSplitArgs(f *testing.F) {
	for _, s := range []string{`echo "a b" 'c'`, `a\ b`, `x="$HOME"`, `''`, `"a\"b"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		words, err := splitArgs(s)
		if err != nil {
			return
		}
		again, err := splitArgs(conn.Join(words...))
		if err != nil || !slices.Equal(words, again) {
			t.Fatalf("%q: %q then %q (%v)", s, words, again, err)
		}
	})
}

// Parsing a mode never panics, and a valid mode applied twice is stable.
func FuzzMode(f *testing.F) {
	for _, s := range []string{"0644", "u=rw,g=r,o=r", "a+rX", "u+s,o-rwx", "7777"} {
		f.Add(s, uint32(0o644), false)
	}
	f.Fuzz(func(t *testing.T, s string, cur uint32, isDir bool) {
		m, err := Mode(s).Apply(fromUnix(cur&0o7777), isDir)
		if err != nil {
			return
		}
		if toUnix(m) > 0o7777 {
			t.Fatalf("%q gave %o", s, toUnix(m))
		}
		// X depends on the current x bits, so it can change once more;
		// everything else is idempotent.
		if !strings.Contains(s, "X") {
			if m2, _ := Mode(s).Apply(m, isDir); m2 != m {
				t.Fatalf("%q: %o then %o", s, toUnix(m), toUnix(m2))
			}
		}
	})
}

// lineinfile converges: editing the result again changes nothing.
func FuzzLineEdit(f *testing.F) {
	f.Add("a\nb\n", "x", "^a", "", false, false)
	f.Add("a\nx=1\n", "x=2", "^x=", "", false, true)
	f.Add("a", "new", "", "^a", true, false)
	f.Fuzz(func(t *testing.T, content, line, re, ins string, before, absent bool) {
		if strings.ContainsAny(line, "\r\n") {
			return
		}
		e := lineEdit{line: line, absent: absent}
		if re != "" {
			r, err := pyre.Compile(re, 0)
			if err != nil {
				return
			}
			// The replacement must match its own regexp, or the task
			// is not idempotent by design (as in Ansible).
			if !absent && !r.MatchString(line) {
				return
			}
			e.re = r
		}
		if ins != "" {
			r, err := pyre.Compile(ins, 0)
			if err != nil {
				return
			}
			e.ins = r
			if before {
				e.insertBefore = ins
			} else {
				e.insertAfter = ins
			}
		}
		once, _ := e.apply(content)
		twice, msg := e.apply(once)
		if twice != once {
			t.Fatalf("not idempotent (%s):\n%q\n%q\n%q", msg, content, once, twice)
		}
	})
}
