package fileplan

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/conn/local"
	"github.com/gpuctl/gpuctl/plan"
)

var ctx = context.Background()

// snapshot is every file under dir with its mode and contents, to prove
// that Check wrote nothing.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		data := []byte(nil)
		if fi.Mode().IsRegular() {
			data, err = os.ReadFile(p)
		}
		b.WriteString(p + " " + fi.Mode().String() + " " + string(data) + "\n")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func write(t *testing.T, p, data string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(p, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // past the umask
		t.Fatal(err)
	}
}

// timeline checks, applies, and checks again, which must find nothing.
func timeline(t *testing.T, c conn.Conn, w Want, o Options) plan.Diff {
	t.Helper()
	var d plan.Diff
	f, err := Check(ctx, c, w, &d)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Apply(ctx, c, o); err != nil {
		t.Fatal(err)
	}
	var d2 plan.Diff
	if f2, err := Check(ctx, c, w, &d2); err != nil || !d2.Empty() || f2.Changed() {
		t.Fatalf("check after apply: %+v, %v", d2.Changes, err)
	}
	return d
}

func TestCheckWritesNothing(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "old.conf"), "a=1\n", 0o600)
	before := snapshot(t, dir)
	c := local.New()
	for _, w := range []Want{
		{Path: filepath.Join(dir, "new.conf"), Content: []byte("x\n"), Attrs: Attrs{Mode: Perm(0o640)}, ListNewAttrs: true},
		{Path: filepath.Join(dir, "old.conf"), Content: []byte("a=2\n"), Attrs: Attrs{Mode: Perm(0o644)}},
		{Path: filepath.Join(dir, "sub", "deep.conf"), Content: []byte("y\n")},
	} {
		var d plan.Diff
		f, err := Check(ctx, c, w, &d)
		if err != nil {
			t.Fatal(err)
		}
		if d.Empty() || !f.Changed() {
			t.Errorf("%s: no change planned", w.Path)
		}
	}
	if got := snapshot(t, dir); got != before {
		t.Errorf("check changed the directory:\n%s\nwas\n%s", got, before)
	}
	var d plan.Diff
	if g, err := CheckAbsent(ctx, c, filepath.Join(dir, "old.conf"), &d); err != nil || g == nil || len(d.Changes) != 1 {
		t.Fatalf("absent: %v %+v", err, d.Changes)
	}
	if got := snapshot(t, dir); got != before {
		t.Errorf("CheckAbsent changed the directory")
	}
}

func TestNewFile(t *testing.T) {
	dir := t.TempDir()
	c := local.New()
	p := filepath.Join(dir, "a", "b.conf")
	// A module's own mode is not listed on create; the file is one change.
	d := timeline(t, c, Want{Path: p, Content: []byte("x\n"), Attrs: Attrs{Mode: Perm(0o600)}}, Options{Parents: true})
	if len(d.Changes) != 1 || d.Changes[0] != (plan.Change{Resource: "file:" + p, Action: plan.Create, Field: "content", After: "x\n", Content: true}) {
		t.Errorf("changes: %+v", d.Changes)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}
	// Attributes the user asked for are listed.
	q := filepath.Join(dir, "c.conf")
	d = timeline(t, c, Want{Path: q, Content: []byte("y\n"), Attrs: Attrs{Mode: Perm(0o640), Owner: "root"}, ListNewAttrs: true}, Options{})
	want := []string{"content::y\n", "mode::0640", "owner::root"}
	if len(d.Changes) != len(want) {
		t.Fatalf("changes: %+v", d.Changes)
	}
	for i, ch := range d.Changes {
		if got := ch.Field + ":" + ch.Before + ":" + ch.After; got != want[i] || ch.Action != plan.Create {
			t.Errorf("change %d: %q %s, want %q", i, got, ch.Action, want[i])
		}
	}
}

func TestModeOnlyChange(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	write(t, p, "same\n", 0o600)
	d := timeline(t, local.New(), Want{Path: p, Content: []byte("same\n"), Attrs: Attrs{Mode: Perm(0o644)}}, Options{})
	if len(d.Changes) != 1 || d.Changes[0] != (plan.Change{Resource: "file:" + p, Action: plan.Update, Field: "mode", Before: "0600", After: "0644"}) {
		t.Errorf("changes: %+v", d.Changes)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v", fi.Mode())
	}
}

func TestKeepsModeAndOwnerItWasNotGiven(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	write(t, p, "old\n", 0o640)
	d := timeline(t, local.New(), Want{Path: p, Content: []byte("new\n")}, Options{})
	if len(d.Changes) != 1 || d.Changes[0].Field != "content" {
		t.Errorf("changes: %+v", d.Changes)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want the old 0640", fi.Mode())
	}
}

func TestOwnerOnlyChange(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown needs root")
	}
	u, err := user.Lookup("daemon")
	if err != nil {
		t.Skip("no daemon user")
	}
	p := filepath.Join(t.TempDir(), "f")
	write(t, p, "same\n", 0o644)
	c := local.New()
	// "0" and "root" are the same owner: nothing to do.
	var d0 plan.Diff
	if _, err := Check(ctx, c, Want{Path: p, Content: []byte("same\n"), Attrs: Attrs{Owner: "0", Group: "root"}}, &d0); err != nil || !d0.Empty() {
		t.Fatalf("root as 0: %+v %v", d0.Changes, err)
	}
	d := timeline(t, c, Want{Path: p, Content: []byte("same\n"), Attrs: Attrs{Owner: "daemon"}}, Options{})
	if len(d.Changes) != 1 || d.Changes[0] != (plan.Change{Resource: "file:" + p, Action: plan.Update, Field: "owner", Before: "root", After: "daemon"}) {
		t.Errorf("changes: %+v", d.Changes)
	}
	fi, err := c.Stat(ctx, p)
	if err != nil || fi.UID != u.Uid {
		t.Errorf("owner %s, want %s (%v)", fi.UID, u.Uid, err)
	}
}

func TestContentChangeIsUnifiedDiff(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f.conf")
	write(t, p, "a=1\nb=2\nc=3\n", 0o644)
	var d plan.Diff
	if _, err := Check(ctx, local.New(), Want{Path: p, Content: []byte("a=1\nb=5\nc=3\n")}, &d); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	plan.WriteText(&out, d, nil, "", plan.Style{})
	for _, want := range []string{"~ file:" + p + " content", "-b=2", "+b=5", " a=1"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("rendered diff lacks %q:\n%s", want, out.String())
		}
	}
}

func TestBinaryIsSummarised(t *testing.T) {
	p := filepath.Join(t.TempDir(), "key.gpg")
	var d plan.Diff
	if _, err := Check(ctx, local.New(), Want{Path: p, Content: []byte{0x99, 0x01, 0x0d, 0x00}}, &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Changes) != 1 || d.Changes[0].Content || !strings.HasPrefix(d.Changes[0].After, "(binary, 4 bytes, sha256 ") {
		t.Errorf("changes: %+v", d.Changes)
	}
}

func TestSensitiveIsMasked(t *testing.T) {
	p := filepath.Join(t.TempDir(), "join.yaml")
	write(t, p, "token: old-secret-1\n", 0o600)
	var d plan.Diff
	if _, err := Check(ctx, local.New(), Want{Path: p, Content: []byte("token: new-secret-2\n"), Sensitive: true}, &d); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	plan.WriteText(&out, d, nil, "", plan.Style{})
	if strings.Contains(out.String(), "secret") || !strings.Contains(out.String(), "(sensitive)") {
		t.Errorf("rendered: %s", out.String())
	}
	if len(d.Changes) != 1 || !d.Changes[0].Sensitive {
		t.Errorf("changes: %+v", d.Changes)
	}
}

func TestReadRealFollowsLinks(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "target.conf"), "x\n", 0o644)
	if err := os.Symlink("target.conf", filepath.Join(dir, "link.conf")); err != nil {
		t.Fatal(err)
	}
	c := local.New()
	cur, err := ReadReal(ctx, c, filepath.Join(dir, "link.conf"))
	if err != nil || cur.Path != filepath.Join(dir, "target.conf") || string(cur.Data) != "x\n" {
		t.Fatalf("%+v %v", cur, err)
	}
	var d plan.Diff
	f, err := Plan(ctx, c, cur, Want{Path: cur.Path, Resource: "file:" + filepath.Join(dir, "link.conf"), Content: []byte("y\n")}, &d)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Apply(ctx, c, Options{}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(filepath.Join(dir, "link.conf")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced: %v %v", fi, err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "target.conf")); string(b) != "y\n" {
		t.Errorf("target holds %q", b)
	}
}

func TestRestore(t *testing.T) {
	dir := t.TempDir()
	old, fresh := filepath.Join(dir, "old"), filepath.Join(dir, "fresh")
	write(t, old, "v1\n", 0o640)
	c := local.New()
	for _, p := range []string{old, fresh} {
		var d plan.Diff
		f, err := Check(ctx, c, Want{Path: p, Content: []byte("v2\n"), Attrs: Attrs{Mode: Perm(0o644)}}, &d)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Apply(ctx, c, Options{}); err != nil {
			t.Fatal(err)
		}
		if err := f.Restore(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if fi, err := os.Stat(old); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("old: %v %v", fi, err)
	}
	if b, _ := os.ReadFile(old); string(b) != "v1\n" {
		t.Errorf("old holds %q", b)
	}
	if _, err := os.Stat(fresh); !os.IsNotExist(err) {
		t.Errorf("fresh was not removed: %v", err)
	}
}

func TestAbsent(t *testing.T) {
	p := filepath.Join(t.TempDir(), "stale.conf")
	write(t, p, "x=1\n", 0o644)
	c := local.New()
	var d plan.Diff
	g, err := CheckAbsent(ctx, c, p, &d)
	if err != nil || len(d.Changes) != 1 || d.Changes[0] != (plan.Change{Resource: "file:" + p, Action: plan.Delete, Before: "x=1\n", Content: true}) {
		t.Fatalf("%+v %v", d.Changes, err)
	}
	if err := g.Apply(ctx, c); err != nil {
		t.Fatal(err)
	}
	var d2 plan.Diff
	if g, err := CheckAbsent(ctx, c, p, &d2); err != nil || g != nil || !d2.Empty() {
		t.Errorf("after apply: %v %+v", err, d2.Changes)
	}
}

func TestBlobs(t *testing.T) {
	dir := t.TempDir()
	same, changed, missing := filepath.Join(dir, "same"), filepath.Join(dir, "changed"), filepath.Join(dir, "bin", "missing")
	write(t, same, "s", 0o755)
	write(t, changed, "old", 0o755)
	blobs := []Blob{
		BytesBlob(same, []byte("s"), 0o755, "ctl:same"),
		BytesBlob(changed, []byte("new"), 0o755, "ctl:changed"),
		BytesBlob(missing, []byte("m"), 0o755, ""),
	}
	c := local.New()
	before := snapshot(t, dir)
	var d plan.Diff
	b, err := CheckBlobs(ctx, c, blobs, &d)
	if err != nil {
		t.Fatal(err)
	}
	if snapshot(t, dir) != before {
		t.Error("CheckBlobs wrote")
	}
	if len(d.Changes) != 2 || !b.Changed() {
		t.Fatalf("changes: %+v", d.Changes)
	}
	up, add := d.Changes[0], d.Changes[1]
	if up.Resource != "file:"+changed || up.Action != plan.Update || up.Before != "sha256:"+blobHash("old")[:12] ||
		up.After != "sha256:"+blobHash("new")[:12]+" (3 B from ctl:changed)" || up.Field != "sha256" {
		t.Errorf("update: %+v", up)
	}
	if add.Resource != "file:"+missing || add.Action != plan.Create || add.Before != "" || add.After != "sha256:"+blobHash("m")[:12]+" (1 B)" {
		t.Errorf("create: %+v", add)
	}
	if err := b.Apply(ctx, c); err != nil {
		t.Fatal(err)
	}
	var d2 plan.Diff
	if b2, err := CheckBlobs(ctx, c, blobs, &d2); err != nil || !d2.Empty() || b2.Changed() {
		t.Errorf("after apply: %v %+v", err, d2.Changes)
	}
	if fi, _ := os.Stat(missing); fi.Mode().Perm() != 0o755 {
		t.Errorf("mode %v", fi.Mode())
	}
}

func blobHash(s string) string { return BytesBlob("", []byte(s), 0, "").SHA256 }

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1536: "1.5 KiB", 3 << 20: "3.0 MiB", 5 << 30: "5.0 GiB"} {
		if got := HumanBytes(n); got != want {
			t.Errorf("HumanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestLookupID(t *testing.T) {
	db := "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534::/:/usr/sbin/nologin\n"
	if id, ok := lookupID(db, "nobody"); !ok || id != "65534" {
		t.Error(id, ok)
	}
	if _, ok := lookupID(db, "nob"); ok {
		t.Error("prefix matched")
	}
}

// A file someone changed between check and apply is left alone: the write
// fails with conn.ErrChanged instead of overwriting their edit.
func TestApplyRefusesAFileChangedSinceCheck(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f.conf")
	write(t, p, "v1\n", 0o644)
	c := local.New()
	var d plan.Diff
	f, err := Check(ctx, c, Want{Path: p, Content: []byte("v2\n")}, &d)
	if err != nil {
		t.Fatal(err)
	}
	write(t, p, "theirs\n", 0o644)
	if _, err := f.Apply(ctx, c, Options{}); !errors.Is(err, conn.ErrChanged) {
		t.Fatalf("apply over a changed file: %v, want conn.ErrChanged", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "theirs\n" {
		t.Errorf("file holds %q", b)
	}
}
