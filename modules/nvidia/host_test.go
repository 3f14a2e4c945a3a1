package nvidia

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/conn/local"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

// testHost is a modules.Host over the local machine.
type testHost struct {
	c     conn.Conn
	check bool
}

func newLocalHost() *testHost { return &testHost{c: local.New()} }

func (h *testHost) Name() string                    { return "localhost" }
func (h *testHost) Conn() conn.Conn                 { return h.c }
func (h *testHost) Local() conn.Conn                { return local.New() }
func (h *testHost) Facts() modules.Facts            { return modules.Facts{} }
func (h *testHost) Vars() map[string]any            { return map[string]any{} }
func (h *testHost) Eval(string) (any, error)        { return nil, nil }
func (h *testHost) Render(s string) (string, error) { return s, nil }
func (h *testHost) CheckMode() bool                 { return h.check }
func (h *testHost) Log() *slog.Logger               { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newModule builds a registered module from YAML-like args, as the engine does.
func newModule(t *testing.T, name string, args map[string]any) modules.Module {
	t.Helper()
	m, err := modules.New(name, args)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return m
}

// timeline runs check → apply → check → apply and fails when the second
// half changes anything, as every module must pass. It returns the first diff.
func timeline(t *testing.T, ctx context.Context, h *testHost, name string, args map[string]any) plan.Diff {
	t.Helper()
	first := newModule(t, name, args)
	d, err := first.Check(ctx, h)
	if err != nil {
		t.Fatalf("first check: %v", err)
	}
	if !d.Empty() {
		if err := first.Apply(ctx, h, d); err != nil {
			t.Fatalf("apply: %v", err)
		}
	}
	second := newModule(t, name, args)
	d2, err := second.Check(ctx, h)
	if err != nil {
		t.Fatalf("check after apply: %v", err)
	}
	if !d2.Empty() {
		t.Fatalf("check after apply is not empty: %+v", d2.Changes)
	}
	return d
}

func newModuleErr(args map[string]any) (modules.Module, error) {
	return modules.New("nvidia_container_toolkit", args)
}
