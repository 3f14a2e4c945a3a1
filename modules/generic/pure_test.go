package generic

import (
	"io/fs"
	"slices"
	"testing"

	"github.com/gpuctl/gpuctl/internal/pyre"
)

func TestModeApply(t *testing.T) {
	tests := []struct {
		mode  Mode
		cur   uint32
		isDir bool
		want  uint32
		err   bool
	}{
		{"0644", 0o777, false, 0o644, false},
		{"644", 0, false, 0o644, false},
		{"4755", 0, false, 0o4755, false},
		{"01777", 0, true, 0o1777, false},
		{"u=rw,g=r,o=r", 0o777, false, 0o644, false},
		{"u+x", 0o644, false, 0o744, false},
		{"go-w", 0o777, false, 0o755, false},
		{"a=rX", 0o644, false, 0o444, false},
		{"a=rX", 0o744, false, 0o555, false},
		{"a=rX", 0o700, true, 0o555, false},
		{"u=rwx,g=rx,o=", 0o777, true, 0o750, false},
		{"u+s", 0o755, false, 0o4755, false},
		{"+t", 0o777, true, 0o1777, false},
		{"ug+rw-x", 0o751, false, 0o661, false},
		{"0999", 0, false, 0, true},
		{"u=rwz", 0, false, 0, true},
		{"rw", 0, false, 0, true},
		{"u", 0, false, 0, true},
		{"77777", 0, false, 0, true},
	}
	for _, tt := range tests {
		got, err := tt.mode.Apply(fromUnix(tt.cur), tt.isDir)
		if (err != nil) != tt.err {
			t.Errorf("%q: err = %v", tt.mode, err)
			continue
		}
		if !tt.err && toUnix(got) != tt.want {
			t.Errorf("%q on %04o: got %04o want %04o", tt.mode, tt.cur, toUnix(got), tt.want)
		}
	}
}

func TestModeUnmarshal(t *testing.T) {
	tests := []struct {
		in   any
		want Mode
		err  bool
	}{
		{"0644", "0644", false},
		{420, "0644", false}, // YAML 0644
		{int64(493), "0755", false},
		{float64(420), "0644", false},
		{4096, "", true},
		{1.5, "", true},
		{true, "", true},
	}
	for _, tt := range tests {
		var m Mode
		err := m.UnmarshalMapstructure(tt.in)
		if (err != nil) != tt.err || m != tt.want {
			t.Errorf("%v: got %q, %v", tt.in, m, err)
		}
	}
	if octal(fs.ModeSetgid|0o755) != "2755" {
		t.Error(octal(fs.ModeSetgid | 0o755))
	}
}

func TestSplitArgs(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  bool
	}{
		{"echo hi", []string{"echo", "hi"}, false},
		{"  a   b\tc ", []string{"a", "b", "c"}, false},
		{`echo "a b" 'c d'`, []string{"echo", "a b", "c d"}, false},
		{`echo $HOME | wc`, []string{"echo", "$HOME", "|", "wc"}, false},
		{`a\ b`, []string{"a b"}, false},
		{`"a\"b" "a\nb" 'a\b'`, []string{`a"b`, `a\nb`, `a\b`}, false},
		{`x=""`, []string{"x="}, false},
		{`''`, []string{""}, false},
		{`echo 'a`, nil, true},
		{`echo \`, nil, true},
	}
	for _, tt := range tests {
		got, err := splitArgs(tt.in)
		if (err != nil) != tt.err || !slices.Equal(got, tt.want) {
			t.Errorf("splitArgs(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestGlobWord(t *testing.T) {
	if got := globWord("/opt/my dir/*.done"); got != "'/opt/my dir/'*.done" {
		t.Error(got)
	}
	if got := globWord("/a/b[0-9]"); got != "/a/b[0-9]" {
		t.Error(got)
	}
}

func ptr(s string) *string { return &s }

// Cases follow Ansible's lineinfile documentation and its integration
// tests, so a file edited by either tool ends up the same.
func TestLineEdit(t *testing.T) {
	re := func(p string) *pyre.Regexp {
		r, err := pyre.Compile(p, 0)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	tests := []struct {
		name    string
		e       lineEdit
		in, out string
		msg     string
	}{
		{"append", lineEdit{line: "c"}, "a\nb\n", "a\nb\nc\n", "line added"},
		{"present", lineEdit{line: "b"}, "a\nb\n", "a\nb\n", ""},
		{"empty file", lineEdit{line: "a"}, "", "a\n", "line added"},
		{"no final newline", lineEdit{line: "c"}, "a\nb", "a\nb\nc\n", "line added"},
		{"replace last match", lineEdit{re: re(`^x=`), line: "x=3"}, "x=1\ny\nx=2\n", "x=1\ny\nx=3\n", "line replaced"},
		{"replace first match", lineEdit{re: re(`^x=`), line: "x=3", firstMatch: true}, "x=1\nx=2\n", "x=3\nx=2\n", "line replaced"},
		{"regexp $ at line end", lineEdit{re: re(`^x=1$`), line: "x=9"}, "x=1\n", "x=9\n", "line replaced"},
		{"regexp no match appends", lineEdit{re: re(`^z=`), line: "z=1"}, "a\n", "a\nz=1\n", "line added"},
		{"regexp no match, line present", lineEdit{re: re(`^z=`), line: "a"}, "a\n", "a\n", ""},
		{"search_string", lineEdit{search: ptr("PermitRoot"), line: "PermitRootLogin no"}, "#PermitRootLogin yes\n", "PermitRootLogin no\n", "line replaced"},
		{"insertafter", lineEdit{line: "new", insertAfter: "^a", ins: re("^a")}, "a\nb\n", "a\nnew\nb\n", "line added"},
		{"insertafter last", lineEdit{line: "new", insertAfter: "^a", ins: re("^a")}, "a1\nb\na2\n", "a1\nb\na2\nnew\n", "line added"},
		{"insertafter first", lineEdit{line: "new", insertAfter: "^a", ins: re("^a"), firstMatch: true}, "a1\nb\na2\n", "a1\nnew\nb\na2\n", "line added"},
		{"insertafter at EOF no newline", lineEdit{line: "new", insertAfter: "^b", ins: re("^b")}, "a\nb", "a\nb\nnew\n", "line added"},
		{"insertafter no match appends", lineEdit{line: "new", insertAfter: "^q", ins: re("^q")}, "a\n", "a\nnew\n", "line added"},
		{"insertafter EOF", lineEdit{line: "new", insertAfter: "EOF"}, "a\n", "a\nnew\n", "line added"},
		{"insertbefore", lineEdit{line: "new", insertBefore: "^b", ins: re("^b")}, "a\nb\n", "a\nnew\nb\n", "line added"},
		{"insertbefore first line", lineEdit{line: "new", insertBefore: "^a", ins: re("^a")}, "a\nb\n", "new\na\nb\n", "line added"},
		{"insertbefore BOF", lineEdit{line: "new", insertBefore: "BOF"}, "a\n", "new\na\n", "line added"},
		{"insertbefore BOF present", lineEdit{line: "a", insertBefore: "BOF"}, "x\na\n", "x\na\n", ""},
		{"backrefs", lineEdit{re: re(`^(\w+)=(\d\d)$`), line: `\1=\g<2>0`, backrefs: true}, "port=80\n", "port=800\n", "line replaced"},
		{"backrefs named", lineEdit{re: re(`^(?P<k>\w+)=`), line: `\g<k>=$x`, backrefs: true}, "a=1\n", "a=$x\n", "line replaced"},
		{"backrefs no match", lineEdit{re: re(`^nomatch`), line: `\1`, backrefs: true}, "a\n", "a\n", ""},
		// devsec os_hardening tasks/pam.yml: a Python lookahead, the line as Ansible leaves it
		{"lookahead backrefs", lineEdit{re: re(`^(account.*pam_unix.so(?!.*no_pass_expiry).*)$`), line: `\1 no_pass_expiry`, backrefs: true},
			"x\naccount required pam_unix.so\n", "x\naccount required pam_unix.so no_pass_expiry\n", "line replaced"},
		{"$ before the newline, \\s* takes it", lineEdit{re: re(`^k=\s*$`), line: "k=v"}, "k=\n", "k=v\n", "line replaced"},
		{"absent line", lineEdit{line: "b", absent: true}, "a\nb\nb\n", "a\n", "2 lines removed"},
		{"absent regexp", lineEdit{re: re(`^#`), absent: true}, "#x\na\n#y", "a\n", "2 lines removed"},
		{"absent none", lineEdit{line: "z", absent: true}, "a\n", "a\n", ""},
		{"absent search", lineEdit{search: ptr("b"), absent: true}, "abc\nd\n", "d\n", "1 line removed"},
		{"crlf line replaced", lineEdit{line: "a"}, "a\r\n", "a\n", "line replaced"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, msg := tt.e.apply(tt.in)
			if out != tt.out || msg != tt.msg {
				t.Errorf("got %q (%s); want %q (%s)", out, msg, tt.out, tt.msg)
			}
			// Idempotence: a second pass changes nothing.
			if out2, msg2 := tt.e.apply(out); out2 != out || msg2 != "" {
				t.Errorf("second pass: %q (%s)", out2, msg2)
			}
		})
	}
}

func TestSubstitute(t *testing.T) {
	tests := []struct {
		name    string
		m       Replace
		in, out string
		n       int
	}{
		{"multiline", Replace{Regexp: `^(\S+\s+\S+\s+swap\s.*)$`, Replace: `# \1`}, "/dev/a / ext4 0\n/swap none swap sw 0\n", "/dev/a / ext4 0\n# /swap none swap sw 0\n", 1},
		{"remove", Replace{Regexp: `foo`}, "foofoo bar", " bar", 2},
		{"dollar literal", Replace{Regexp: `x`, Replace: `$1`}, "x", "$1", 1},
		{"after", Replace{Regexp: `a`, Replace: "b", After: `START`}, "a START a", "a START b", 1},
		{"before", Replace{Regexp: `a`, Replace: "b", Before: `END`}, "a END a", "b END a", 1},
		{"between", Replace{Regexp: `a`, Replace: "b", After: `<`, Before: `>`}, "a<a>a<a>", "a<b>a<a>", 1},
		{"no match", Replace{Regexp: `z`, Replace: "b"}, "abc", "abc", 0},
		{"newline escape", Replace{Regexp: `,`, Replace: `\n`}, "a,b", "a\nb", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.m.Path = "/x"
			if err := tt.m.Validate(); err != nil {
				t.Fatal(err)
			}
			out, n := tt.m.substitute(tt.in)
			if out != tt.out || n != tt.n {
				t.Errorf("got %q (%d); want %q (%d)", out, n, tt.out, tt.n)
			}
		})
	}
}
