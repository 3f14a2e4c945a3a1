package inventory

import (
	"os"
	"strings"
	"testing"
)

// FuzzParseINI: any input either parses or fails with a file:line error,
// never panics, and every parsed host is reachable by its own name.
func FuzzParseINI(f *testing.F) {
	for _, p := range []string{"testdata/compare/ini/hosts.ini", "testdata/compare/dir/01-hosts"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add(patternINI)
	f.Add("[a:children]\nb\n[b]\nh[1:3:2] x='y' z=[1,{'a':(2,)}]\n")
	f.Add("h[a:c][01:02]:22 v=0x1F\n[g:vars]\nk = 1, 2\n")
	f.Fuzz(func(t *testing.T, src string) {
		inv, err := Parse("f.ini", []byte(src))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.ini") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for _, h := range inv.Hosts() {
			if got, ok := inv.Host(h.Name); !ok || got != h {
				t.Fatalf("host %q not found by name", h.Name)
			}
		}
		_, _, _ = inv.Select("all:!" + src)
	})
}

// FuzzPattern: any pattern evaluates without panicking.
func FuzzPattern(f *testing.F) {
	inv, err := Parse("p.ini", []byte(patternINI))
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range []string{"g[0]", "g[1:]", "~web[12]", "a:&g:!b", "[!a]*", "h[-1]", "web*,localhost"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		_, _, _ = inv.Select(p)
	})
}
