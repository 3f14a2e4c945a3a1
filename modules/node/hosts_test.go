package node

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/conn/local"
	"github.com/gpuctl/gpuctl/conn/ssh"
	"github.com/gpuctl/gpuctl/internal/testhosts"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

// testHost is the modules.Host the engine would give a module, over a real
// SSH connection to a test host.
type testHost struct {
	th    testhosts.Host
	c     conn.Conn
	check bool
	mu    sync.Mutex
	logs  bytes.Buffer
}

func (h *testHost) Name() string             { return h.th.Name }
func (h *testHost) Conn() conn.Conn          { return h.c }
func (h *testHost) Local() conn.Conn         { return local.New() }
func (h *testHost) Facts() modules.Facts     { return modules.Facts{} }
func (h *testHost) Vars() map[string]any     { return map[string]any{} }
func (h *testHost) Eval(string) (any, error) { return nil, errors.New("no templates in these tests") }
func (h *testHost) Render(string) (string, error) {
	return "", errors.New("no templates in these tests")
}
func (h *testHost) CheckMode() bool   { return h.check }
func (h *testHost) Log() *slog.Logger { return slog.New(slog.NewTextHandler(lockedWriter{h}, nil)) }
func (h *testHost) logText() string   { h.mu.Lock(); defer h.mu.Unlock(); return h.logs.String() }
func (w lockedWriter) Write(p []byte) (int, error) {
	w.h.mu.Lock()
	defer w.h.mu.Unlock()
	return w.h.logs.Write(p)
}

type lockedWriter struct{ h *testHost }

// startHosts starts n test hosts (skipping without the fixture) and dials
// each as root over SSH.
func startHosts(t *testing.T, n int, opts ...testhosts.Option) []*testHost {
	t.Helper()
	var out []*testHost
	for _, th := range testhosts.Start(t, n, opts...) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		c, err := ssh.Dial(ctx, ssh.Config{
			Host: th.Addr, Port: th.Port, User: testhosts.UserRoot,
			KeyFiles: []string{th.KeyFile}, NoAgent: true,
			KnownHostsFiles: []string{th.KnownHostsFile}, NoUserKnownHosts: true,
		})
		cancel()
		if err != nil {
			t.Fatalf("dial %s: %v", th.Name, err)
		}
		t.Cleanup(func() { c.Close() })
		out = append(out, &testHost{th: th, c: c})
	}
	return out
}

// timeline runs the contract every module keeps, on a real host:
// check mode finds changes and leaves the host as it was (same snapshot of
// /etc, /usr/local, /opt), apply makes them, and a fresh check (what a
// second run or --check after apply does) finds nothing. It returns the
// first diff for the caller to inspect.
func timeline(t *testing.T, h *testHost, name string, args map[string]any) plan.Diff {
	t.Helper()
	ctx := context.Background()
	newModule := func() modules.Module {
		m, err := modules.New(name, args)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return m
	}
	before := h.th.Hash(t)
	h.check = true
	d, err := modules.CheckOnly(ctx, newModule(), h)
	h.check = false
	if err != nil {
		t.Fatalf("%s: check: %v", name, err)
	}
	if d.Empty() {
		t.Fatalf("%s: first check found nothing to do", name)
	}
	if after := h.th.Hash(t); after != before {
		t.Fatalf("%s: check mode changed the host", name)
	}
	m := newModule()
	d2, err := m.Check(ctx, h)
	if err != nil {
		t.Fatalf("%s: check: %v", name, err)
	}
	start := time.Now()
	if err := m.Apply(ctx, h, d2); err != nil {
		t.Fatalf("%s: apply: %v", name, err)
	}
	t.Logf("%s: apply took %s", name, time.Since(start).Round(time.Millisecond))
	d3, err := newModule().Check(ctx, h)
	if err != nil {
		t.Fatalf("%s: check after apply: %v", name, err)
	}
	if !d3.Empty() {
		t.Fatalf("%s: check after apply still reports changes:\n%s", name, describe(d3))
	}
	t.Logf("%s: first diff:\n%s", name, describe(d))
	return d
}

// noChange checks that a module has nothing to do on h.
func noChange(t *testing.T, h *testHost, name string, args map[string]any) {
	t.Helper()
	m, err := modules.New(name, args)
	if err != nil {
		t.Fatal(err)
	}
	d, err := m.Check(context.Background(), h)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if !d.Empty() {
		t.Fatalf("%s: expected no change, got:\n%s", name, describe(d))
	}
}

// check runs one Check in check mode.
func checkOnly(t *testing.T, h *testHost, name string, args map[string]any) (plan.Diff, error) {
	t.Helper()
	m, err := modules.New(name, args)
	if err != nil {
		t.Fatal(err)
	}
	h.check = true
	defer func() { h.check = false }()
	return modules.CheckOnly(context.Background(), m, h)
}

// apply runs Check then Apply, as one task of a real run.
func apply(t *testing.T, h *testHost, name string, args map[string]any) (plan.Diff, error) {
	t.Helper()
	m, err := modules.New(name, args)
	if err != nil {
		t.Fatal(err)
	}
	d, err := m.Check(context.Background(), h)
	if err != nil || d.Empty() {
		return d, err
	}
	return d, m.Apply(context.Background(), h, d)
}

func describe(d plan.Diff) string {
	var b strings.Builder
	for _, c := range d.Masked(nil).Changes {
		b.WriteString("  " + c.Action.Symbol() + " " + c.Resource)
		if c.Field != "" {
			b.WriteString(" " + c.Field)
		}
		if !c.Content && (c.Before != "" || c.After != "") {
			b.WriteString(": " + c.Before + " → " + c.After)
		}
		b.WriteString("\n")
	}
	if d.Unknown != "" {
		b.WriteString("  ? " + d.Unknown + "\n")
	}
	for _, n := range d.Notes {
		b.WriteString("  note: " + n + "\n")
	}
	return b.String()
}

func hasChange(d plan.Diff, resource, field string) bool {
	for _, c := range d.Changes {
		if c.Resource == resource && (field == "" || c.Field == field) {
			return true
		}
	}
	return false
}
