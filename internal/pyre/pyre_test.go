package pyre

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"
)

// TestLikePython runs the cases of testdata/python.json, recorded from Python 3's re by
// testdata/gen-python.py, and expects the same results and the same refusals.
func TestLikePython(t *testing.T) {
	b, err := os.ReadFile("testdata/python.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Op, Pat, Input string
		Flags          int
		Repl           *string
		Err            bool
		Result         any
	}
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		var f Flags
		if c.Flags&2 != 0 {
			f |= IgnoreCase
		}
		if c.Flags&8 != 0 {
			f |= Multiline
		}
		got, err := run(c.Op, c.Pat, f, c.Input, c.Repl)
		if c.Err {
			if err == nil {
				t.Errorf("%s %q on %q: no error, got %#v", c.Op, c.Pat, c.Input, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s %q on %q: %v", c.Op, c.Pat, c.Input, err)
			continue
		}
		if !reflect.DeepEqual(got, c.Result) {
			t.Errorf("%s %q on %q = %#v, want %#v", c.Op, c.Pat, c.Input, got, c.Result)
		}
	}
}

// run gives the result in the shape json.Unmarshal gives Python's.
func run(op, pat string, f Flags, s string, repl *string) (any, error) {
	re, err := Compile(pat, f)
	if err != nil {
		return nil, err
	}
	var m *Match
	switch op {
	case "search":
		m, err = re.Search(s)
	case "match":
		m, err = re.Match(s)
	case "fullmatch":
		m, err = re.FullMatch(s)
	case "findall":
		all, err := re.FindAll(s)
		if err != nil {
			return nil, err
		}
		out := []any{}
		for _, m := range all {
			switch re.NumGroups() {
			case 0:
				g, _ := m.Group(0)
				out = append(out, g)
			case 1:
				g, _ := m.Group(1)
				out = append(out, g)
			default:
				var tup []any
				for i := 1; i <= re.NumGroups(); i++ {
					g, _ := m.Group(i)
					tup = append(tup, g)
				}
				out = append(out, tup)
			}
		}
		return out, nil
	case "sub", "suberror":
		out, _, err := re.Sub(*repl, s, 0)
		return out, err
	}
	if m == nil || err != nil {
		return nil, err
	}
	out := []any{}
	for i := 0; i <= re.NumGroups(); i++ {
		if g, ok := m.Group(i); ok {
			out = append(out, g)
		} else {
			out = append(out, nil)
		}
	}
	return out, nil
}

func TestUnicodeName(t *testing.T) {
	for name, want := range map[string]rune{"BULLET": '•', "em dash": '—', "LATIN SMALL LETTER E WITH ACUTE": 'é', "CJK UNIFIED IDEOGRAPH-4E00": '一'} {
		if r, ok := UnicodeName(name); !ok || r != want {
			t.Errorf("UnicodeName(%q) = %q, %v; want %q", name, r, ok, want)
		}
	}
	if _, ok := UnicodeName("NO SUCH CHARACTER"); ok {
		t.Error("an unknown name was found")
	}
}

// FuzzCompile: any pattern either compiles or is refused; matching never panics.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{`^(a(?!b).*)$`, `(?P<x>a)(?P=x)`, `[\w-]+\d{,3}`, `(?x) a # c`, `a++`, `\N{BULLET}`} {
		f.Add(s, "aab-1")
	}
	f.Fuzz(func(t *testing.T, pat, s string) {
		re, err := Compile(pat, 0)
		if err != nil {
			return
		}
		_, _ = re.Search(s)
		_, _ = re.FindAll(s)
		_, _, _ = re.Sub(`\g<0>`, s, 0)
	})
}
