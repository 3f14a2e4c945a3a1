package ssh_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/conn/local"
	"github.com/gpuctl/gpuctl/conn/ssh/sshtest"
)

// TestWriteCleansUpAndGuardsPlan covers what a cut-off or raced write
// leaves: over SFTP and on the local connection, a write removes the
// temporary files earlier cut-off writes of the same target left, and
// refuses to replace a target that is no longer what the caller planned
// against.
func TestWriteCleansUpAndGuardsPlan(t *testing.T) {
	srv := sshtest.Start(t)
	for name, c := range map[string]conn.Conn{"sftp": dial(t, config(srv, "root")), "local": local.New()} {
		t.Run(name, func(t *testing.T) { testWriteGuard(t, c) })
	}
}

func testWriteGuard(t *testing.T, c conn.Conn) {
	ctx := context.Background()
	dir := t.TempDir()
	f := filepath.Join(dir, "f.conf")
	other := filepath.Join(dir, ".other.conf.gpuctl-0123456789ab")
	for _, p := range []string{conn.TempName(f), conn.TempName(f), other} {
		if err := os.WriteFile(p, []byte("half"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.WriteFile(ctx, f, []byte("v1\n"), conn.FileAttrs{Planned: conn.PlannedFrom(nil, false)}); err != nil {
		t.Fatal(err)
	}
	if got := names(t, dir); !slices.Equal(got, []string{".other.conf.gpuctl-0123456789ab", "f.conf"}) {
		t.Errorf("after a write, dir holds %v: leftovers of f.conf were not removed, or another file's were", got)
	}

	// Someone else writes between check (which saw v1) and apply.
	planned := conn.PlannedFrom([]byte("v1\n"), true)
	os.WriteFile(f, []byte("theirs\n"), 0o644)
	err := c.WriteFile(ctx, f, []byte("v2\n"), conn.FileAttrs{Planned: planned})
	var ce *conn.ChangedError
	if !errors.Is(err, conn.ErrChanged) || !errors.As(err, &ce) || ce.Path != f {
		t.Fatalf("write over a changed file: %v", err)
	}
	if b, _ := os.ReadFile(f); string(b) != "theirs\n" {
		t.Errorf("changed file was replaced: %q", b)
	}
	if got := names(t, dir); !slices.Equal(got, []string{".other.conf.gpuctl-0123456789ab", "f.conf"}) {
		t.Errorf("refused write left %v", got)
	}

	// A file that appeared after a check that found it missing.
	g := filepath.Join(dir, "g")
	os.WriteFile(g, []byte("x"), 0o644)
	if err := c.WriteFile(ctx, g, []byte("y"), conn.FileAttrs{Planned: conn.PlannedFrom(nil, false)}); !errors.Is(err, conn.ErrChanged) {
		t.Errorf("write over a file that appeared: %v", err)
	}
	// The plan still holds: the write goes through.
	if err := c.WriteFile(ctx, f, []byte("v2\n"), conn.FileAttrs{Planned: conn.PlannedFrom([]byte("theirs\n"), true)}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(f); string(b) != "v2\n" {
		t.Errorf("content %q", b)
	}
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}
