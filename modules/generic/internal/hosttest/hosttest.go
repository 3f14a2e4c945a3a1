// Package hosttest provides a modules.Host over a real connection for the
// generic modules' tests, and the check → apply → check timeline every
// module must pass.
package hosttest

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/conn/local"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
	"github.com/gpuctl/gpuctl/template"
)

// Host is a modules.Host for tests. Eval and Render use the engine's
// Jinja2 (template/) unless replaced.
type Host struct {
	HostName string
	C        conn.Conn
	L        conn.Conn
	V        map[string]any
	Check    bool
	Tpl      *template.Engine
	// Reconnects counts Reconnect calls; Redial, when set, makes the Host
	// a generic.Reconnector.
	Reconnects int
	Redial     func(ctx context.Context) (conn.Conn, error)
}

// Local returns a Host whose connection is the local machine.
func Local() *Host {
	return &Host{HostName: "localhost", C: local.New(), L: local.New(), V: map[string]any{}, Tpl: template.New()}
}

func (h *Host) Name() string                    { return h.HostName }
func (h *Host) Conn() conn.Conn                 { return h.C }
func (h *Host) Local() conn.Conn                { return h.L }
func (h *Host) Facts() modules.Facts            { return modules.Facts{} }
func (h *Host) Vars() map[string]any            { return h.V }
func (h *Host) CheckMode() bool                 { return h.Check }
func (h *Host) Log() *slog.Logger               { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
func (h *Host) Eval(e string) (any, error)      { return h.Tpl.Eval(e, h.V) }
func (h *Host) Render(t string) (string, error) { return h.Tpl.RenderString(t, h.V) }

// Reconnect re-dials through Redial; without it there is nothing to do.
func (h *Host) Reconnect(ctx context.Context) error {
	h.Reconnects++
	if h.Redial == nil {
		return nil
	}
	c, err := h.Redial(ctx)
	if err != nil {
		return err
	}
	h.C = c
	return nil
}

// Timeline runs check → apply → check → check on a fresh module and
// returns the first diff. The first check must find changes and leave dir
// byte-identical; everything after the apply must be empty.
func Timeline(t *testing.T, h *Host, dir, name string, args map[string]any) plan.Diff {
	t.Helper()
	return TimelineSnap(t, h, func() string { return Snapshot(t, dir) }, name, args)
}

// TimelineSnap is Timeline with the proof that check changed nothing
// taken by snap (a remote host's file hashes, a service's state).
func TimelineSnap(t *testing.T, h *Host, snap func() string, name string, args map[string]any) plan.Diff {
	t.Helper()
	ctx := context.Background()
	m := New(t, name, args)
	before := snap()
	h.Check = true
	d, err := modules.CheckOnly(ctx, m, h)
	h.Check = false
	if err != nil {
		t.Fatalf("%s: first check: %v", name, err)
	}
	if d.Empty() {
		t.Fatalf("%s: first check found nothing to change", name)
	}
	if after := snap(); after != before {
		t.Fatalf("%s: check changed files:\nbefore:\n%s\nafter:\n%s", name, before, after)
	}
	if err := m.Apply(ctx, h, d); err != nil {
		t.Fatalf("%s: apply: %v", name, err)
	}
	if d2, err := m.Check(ctx, h); err != nil || !d2.Empty() {
		t.Fatalf("%s: check after apply: err=%v diff=%+v", name, err, d2.Changes)
	}
	// A fresh value, as the engine builds for the next run: nothing to
	// do, and applying that nothing changes nothing.
	m2 := New(t, name, args)
	d3, err := m2.Check(ctx, h)
	if err != nil || !d3.Empty() {
		t.Fatalf("%s: second run: err=%v diff=%+v", name, err, d3.Changes)
	}
	before = snap()
	if err := m2.Apply(ctx, h, d3); err != nil {
		t.Fatalf("%s: second apply: %v", name, err)
	}
	if after := snap(); after != before {
		t.Fatalf("%s: second apply changed files:\nbefore:\n%s\nafter:\n%s", name, before, after)
	}
	return d
}

// New builds a module through the registry, as the engine does.
func New(t *testing.T, name string, args map[string]any) modules.Module {
	t.Helper()
	m, err := modules.New(name, args)
	if err != nil {
		t.Fatalf("modules.New(%s, %v): %v", name, args, err)
	}
	return m
}

// Snapshot lists every path under dir with its type, mode, size and
// content hash, so tests can prove check mode touched nothing.
func Snapshot(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		line := fmt.Sprintf("%s %v %d", p, fi.Mode(), fi.Size())
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			line += " -> " + target
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			line += fmt.Sprintf(" %x %d", sha256.Sum256(b), fi.ModTime().UnixNano())
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatalf("snapshot %s: %v", dir, err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}
