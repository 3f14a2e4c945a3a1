package modelserver

import (
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/conn/local"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

// fakeHost is a modules.Host over any connection; Local is this machine.
type fakeHost struct {
	name  string
	c     conn.Conn
	vars  map[string]any
	check bool
	log   *slog.Logger
}

func (h *fakeHost) Name() string {
	if h.name == "" {
		return "test"
	}
	return h.name
}
func (h *fakeHost) Conn() conn.Conn {
	if h.c == nil {
		return local.New()
	}
	return h.c
}
func (h *fakeHost) Local() conn.Conn { return local.New() }
func (h *fakeHost) Facts() modules.Facts {
	return modules.Facts{}
}
func (h *fakeHost) Vars() map[string]any {
	if h.vars == nil {
		return map[string]any{}
	}
	return h.vars
}
func (h *fakeHost) Eval(string) (any, error) { return nil, errors.New("no templates here") }
func (h *fakeHost) Render(string) (string, error) {
	return "", errors.New("no templates here")
}
func (h *fakeHost) CheckMode() bool { return h.check }
func (h *fakeHost) Log() *slog.Logger {
	if h.log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.log
}

// testLog sends a host's log lines to t.Log.
func testLog(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t: t}, nil))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func newModule(t testing.TB, name string, args map[string]any) modules.Module {
	t.Helper()
	m, err := modules.New(name, args)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return m
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
		if strings.HasPrefix(c.Resource, resource) && (field == "" || c.Field == field) {
			return true
		}
	}
	return false
}

func newModuleErr(name string, args map[string]any) (modules.Module, error) {
	return modules.New(name, args)
}
