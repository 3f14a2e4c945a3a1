package generic

import (
	"path"
	"strings"
	"testing"
)

// No member name, however written, is accepted and then lands outside
// dest: safeMemberName either refuses it or gives a clean relative path.
func FuzzSafeMemberName(f *testing.F) {
	for _, s := range []string{"a/b", "../x", "a/../../x", "/etc/passwd", `..\x`, `C:\x`, "./a//b/", "a/./../b", ".."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		n, err := safeMemberName(raw)
		if err != nil || n == "" {
			return
		}
		joined := path.Join("/dest", n)
		if !strings.HasPrefix(joined, "/dest/") || path.IsAbs(n) || n != path.Clean(n) {
			t.Fatalf("%q accepted as %q, lands at %s", raw, n, joined)
		}
	})
}

// Any bytes given as a zip give members or an error, never a panic, and
// every member lies under dest.
func FuzzZipMembers(f *testing.F) {
	f.Add([]byte("PK\x05\x06" + strings.Repeat("\x00", 18)))
	f.Add([]byte("PK\x03\x04garbage"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, members, err := zipMembers(data, nil, nil)
		if err != nil {
			return
		}
		for _, m := range members {
			if !strings.HasPrefix(path.Join("/dest", m.name), "/dest/") {
				t.Fatalf("member %q lands outside dest", m.name)
			}
		}
	})
}
