package kube

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/conn/local"
	"github.com/gpuctl/gpuctl/internal/kubetest"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }

// testHost is a connection: local host whose kubeconfig is the fixture's.
type testHost struct {
	name  string
	conn  conn.Conn
	vars  map[string]any
	check bool
	log   *slog.Logger
}

func newHost(t testing.TB, cl *kubetest.Cluster, node string) *testHost {
	return &testHost{
		name: "cp1", conn: local.New(),
		vars: map[string]any{"kubeconfig": cl.KubeconfigPath, "node_name": node},
		log:  slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo})),
	}
}

func (h *testHost) Name() string             { return h.name }
func (h *testHost) Conn() conn.Conn          { return h.conn }
func (h *testHost) Local() conn.Conn         { return h.conn }
func (h *testHost) Facts() modules.Facts     { return modules.Facts{} }
func (h *testHost) Vars() map[string]any     { return h.vars }
func (h *testHost) Eval(string) (any, error) { return nil, nil }
func (h *testHost) CheckMode() bool          { return h.check }
func (h *testHost) Log() *slog.Logger        { return h.log }

// Render substitutes {{ name }} for string variables: enough for tests.
func (h *testHost) Render(tpl string) (string, error) {
	for k, v := range h.vars {
		if s, ok := v.(string); ok {
			tpl = strings.ReplaceAll(tpl, "{{ "+k+" }}", s)
		}
	}
	return tpl, nil
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// newModule decodes args as the engine does.
func newModule(t testing.TB, name string, args map[string]any) modules.Module {
	t.Helper()
	m, err := modules.New(name, args)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return m
}

func check(t testing.TB, h modules.Host, m modules.Module) plan.Diff {
	t.Helper()
	d, err := m.Check(context.Background(), h)
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	return d
}

// converge runs check → apply → check and fails unless the last check is
// empty; it returns the first diff.
func converge(t testing.TB, h modules.Host, name string, args map[string]any) plan.Diff {
	t.Helper()
	d := check(t, h, newModule(t, name, args))
	if d.Empty() {
		t.Fatalf("%s: first check found nothing to do", name)
	}
	m := newModule(t, name, args)
	d2 := check(t, h, m)
	if err := m.Apply(context.Background(), h, d2); err != nil {
		t.Fatalf("%s apply: %v", name, err)
	}
	if again := check(t, h, newModule(t, name, args)); !again.Empty() {
		t.Fatalf("%s: check after apply not empty: %+v", name, again.Changes)
	}
	return d
}

func logDiff(t testing.TB, d plan.Diff) {
	t.Helper()
	for _, c := range d.Changes {
		t.Logf("%s %s %s\n  before: %s\n  after: %s", c.Action.Symbol(), c.Resource, c.Field, c.Before, c.After)
	}
	for _, n := range d.Notes {
		t.Logf("note: %s", n)
	}
}
