// Package moduletest is the one test harness of every module family: a
// modules.Host over the local machine or (Start) a real Debian test host
// over SSH, the check → apply → check timeline every module must pass, and
// the small assertions module tests share (NoChange, BadArgs, HasChange,
// Describe). A new family imports it instead of writing its own.
package moduletest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

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
	Tpl      *template.Engine
	// TB, when set, also receives the module's log lines (t.Log); they are
	// always kept for LogText.
	TB testing.TB
	// Reconnects counts Reconnect calls; Redial, when set, makes the Host
	// a generic.Reconnector.
	Reconnects int
	Redial     func(ctx context.Context) (conn.Conn, error)

	mu   sync.Mutex
	logs bytes.Buffer
}

// Local returns a Host whose connection is the local machine.
func Local() *Host {
	return &Host{HostName: "localhost", C: local.New(), L: local.New(), V: map[string]any{}, Tpl: template.New()}
}

// On returns a Host whose connection is c (a fake, a wrapper); Local is
// this machine.
func On(c conn.Conn) *Host {
	h := Local()
	h.C = c
	return h
}

func (h *Host) Name() string                    { return h.HostName }
func (h *Host) Conn() conn.Conn                 { return h.C }
func (h *Host) Local() conn.Conn                { return h.L }
func (h *Host) Facts() modules.Facts            { return modules.Facts{} }
func (h *Host) Vars() map[string]any            { return h.V }
func (h *Host) Log() *slog.Logger               { return slog.New(slog.NewTextHandler(logWriter{h}, nil)) }
func (h *Host) Eval(e string) (any, error)      { return h.Tpl.Eval(e, h.V) }
func (h *Host) Render(t string) (string, error) { return h.Tpl.RenderFile(t, h.V) }

// LogText is everything modules logged on h so far.
func (h *Host) LogText() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.logs.String()
}

// logWriter keeps log lines for LogText (modules log from goroutines, so
// under a lock) and passes them to TB.
type logWriter struct{ h *Host }

func (w logWriter) Write(p []byte) (int, error) {
	w.h.mu.Lock()
	w.h.logs.Write(p)
	w.h.mu.Unlock()
	if w.h.TB != nil {
		w.h.TB.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

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

// Timeline runs the timeline on h with dir's files as the proof that
// check changed nothing (see TimelineSnap).
func Timeline(t *testing.T, h *Host, dir, name string, args map[string]any) plan.Diff {
	t.Helper()
	return TimelineSnap(t, h, func() string { return Snapshot(t, dir) }, name, args)
}

// TimelineSnap is the contract every module keeps, run as the engine runs
// it: check mode (modules.CheckOnly) must find changes and leave snap's
// proof (a directory's files, a remote host's file hashes, a service's
// state) as it was (nil: the module's own tests prove it, as the kube
// modules' dry-run tests do); a real run checks and applies; the same value's
// re-check and a fresh value's check (the next run) find nothing. It
// returns the check-mode diff.
func TimelineSnap(t *testing.T, h modules.Host, snap func() string, name string, args map[string]any) plan.Diff {
	t.Helper()
	d, _ := TimelineModule(t, h, snap, name, args)
	return d
}

// TimelineModule is TimelineSnap that also returns the applied module, for
// what it registers.
func TimelineModule(t *testing.T, h modules.Host, snap func() string, name string, args map[string]any) (plan.Diff, modules.Module) {
	t.Helper()
	ctx := context.Background()
	if snap == nil {
		snap = func() string { return "" }
	}
	before := snap()
	d, err := modules.CheckOnly(ctx, New(t, name, args), h)
	if err != nil {
		t.Fatalf("%s: check mode: %v", name, err)
	}
	if d.Empty() {
		t.Fatalf("%s: first check found nothing to change", name)
	}
	if after := snap(); after != before {
		t.Fatalf("%s: check changed the host:\nbefore:\n%s\nafter:\n%s", name, before, after)
	}
	t.Logf("%s: check-mode diff:\n%s", name, Describe(d))
	m := New(t, name, args)
	d2, err := m.Check(ctx, h)
	if err != nil {
		t.Fatalf("%s: check: %v", name, err)
	}
	start := time.Now()
	if err := m.Apply(ctx, h, d2); err != nil {
		t.Fatalf("%s: apply: %v", name, err)
	}
	t.Logf("%s: apply took %s", name, time.Since(start).Round(time.Millisecond))
	if d3, err := m.Check(ctx, h); err != nil || !d3.Empty() {
		t.Fatalf("%s: check after apply: err=%v diff:\n%s", name, err, Describe(d3))
	}
	// A fresh value, as the engine builds for the next run: nothing to do.
	if d4, err := New(t, name, args).Check(ctx, h); err != nil || !d4.Empty() {
		t.Fatalf("%s: second run: err=%v diff:\n%s", name, err, Describe(d4))
	}
	return d, m
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
