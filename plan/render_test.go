package plan

import (
	"bytes"
	"strings"
	"testing"
)

func TestWriteTextMasksAndDiffs(t *testing.T) {
	d := Diff{Changes: []Change{
		{Resource: "file:/etc/app.conf", Action: Update, Field: "content", Before: "a=1\nb=2\n", After: "a=1\nb=3\ntoken=hunter22\n", Content: true},
		{Resource: "file:/etc/app.conf", Action: Update, Field: "mode", Before: "0644", After: "0600"},
		{Resource: "kubeadm:join", Action: Run, Field: "token", After: "abcdef.0123456789abcdef", Sensitive: true},
	}, Notes: []string{"node stays NotReady until a CNI is installed"}}
	var buf bytes.Buffer
	WriteText(&buf, d, []string{"hunter22"}, "  ", Style{})
	out := buf.String()
	for _, want := range []string{"-b=2", "+b=3", "+token=********", "~ file:/etc/app.conf mode: 0644 → 0600", "(sensitive)", "note: node stays NotReady"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, secret := range []string{"hunter22", "abcdef.0123456789abcdef"} {
		if strings.Contains(out, secret) {
			t.Errorf("secret %q leaked:\n%s", secret, out)
		}
	}
}

func TestPathsAndEmpty(t *testing.T) {
	var d Diff
	if !d.Empty() {
		t.Fatal("zero diff not empty")
	}
	d.Add(Change{Resource: "file:/a", Action: Create})
	d.Add(Change{Resource: "service:x", Action: Update})
	if got := d.Paths(); len(got) != 1 || got[0] != "/a" {
		t.Fatalf("Paths = %v", got)
	}
	if (Diff{Unknown: "x"}).Empty() {
		t.Fatal("unknown diff reported empty")
	}
}
