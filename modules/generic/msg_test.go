package generic_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/conn/local"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/generic"
	"github.com/gpuctl/gpuctl/modules/moduletest"
	"github.com/gpuctl/gpuctl/plan"
)

func TestAssert(t *testing.T) {
	h := moduletest.Local()
	h.V["gpus"] = 8
	h.V["distro"] = "Ubuntu"
	ctx := context.Background()
	m := moduletest.New(t, "assert", map[string]any{"that": []any{"gpus >= 8", `distro == "Ubuntu"`}, "success_msg": "fine"})
	d, err := m.Check(ctx, h)
	if err != nil || !d.Empty() || m.(modules.Messager).Message() != "fine" {
		t.Fatalf("passing assert: %v %+v %q", err, d, m.(modules.Messager).Message())
	}
	// A single string is one expression.
	m = moduletest.New(t, "assert", map[string]any{"that": "gpus > 8", "fail_msg": "too few GPUs"})
	_, err = m.Check(ctx, h)
	var ae *generic.AssertError
	if !errors.As(err, &ae) || ae.Msg != "too few GPUs" || ae.Assertion != "gpus > 8" {
		t.Fatalf("failing assert: %v", err)
	}
	m = moduletest.New(t, "assert", map[string]any{"that": []any{"nope"}})
	if _, err := m.Check(ctx, h); err == nil || !strings.Contains(err.Error(), "undefined") {
		t.Errorf("undefined: %v", err)
	}
}

func TestDebug(t *testing.T) {
	h := moduletest.Local()
	h.V["result"] = map[string]any{"stdout_lines": []any{"a", "b"}}
	ctx := context.Background()
	for _, tt := range []struct {
		args map[string]any
		want string
	}{
		{map[string]any{}, "Hello world!"},
		{map[string]any{"msg": "hi there"}, "hi there"},
		{map[string]any{"msg": []any{"x", 1}}, "[\n  \"x\",\n  1\n]"},
		{map[string]any{"var": "result.stdout_lines"}, "result.stdout_lines: [\n  \"a\",\n  \"b\"\n]"},
		{map[string]any{"var": "missing"}, "missing: VARIABLE IS NOT DEFINED!"},
	} {
		m := moduletest.New(t, "debug", tt.args)
		d, err := m.Check(ctx, h)
		if err != nil || !d.Empty() {
			t.Fatalf("%v: %v %+v", tt.args, err, d)
		}
		if got := m.(modules.Messager).Message(); got != tt.want {
			t.Errorf("%v: %q; want %q", tt.args, got, tt.want)
		}
	}
}

func TestSetFact(t *testing.T) {
	m := &generic.SetFact{}
	if err := m.SetRawArgs(map[string]any{"kube_version": "1.34", "nodes": []any{"a"}, "cacheable": true}); err != nil {
		t.Fatal(err)
	}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	d, err := m.Check(context.Background(), moduletest.Local())
	if err != nil || !d.Empty() {
		t.Fatal(err, d)
	}
	if f := m.SetFacts(); len(f) != 2 || f["kube_version"] != "1.34" {
		t.Errorf("facts %v", f)
	}
	if err := m.SetRawArgs(map[string]any{"cacheable": "maybe"}); err == nil {
		t.Error("cacheable must be a bool")
	}
}

func TestRebootRefusals(t *testing.T) {
	ctx := context.Background()
	m := moduletest.New(t, "reboot", map[string]any{})
	d, err := m.Check(ctx, moduletest.Local())
	if err != nil || len(d.Changes) != 1 || d.Changes[0].Action != plan.Run {
		t.Fatalf("check: %v %+v", err, d)
	}
	if !m.(modules.Unverified).Unverified() {
		t.Error("reboot must be unverified")
	}
	if err := m.Apply(ctx, moduletest.Local(), d); err == nil || !strings.Contains(err.Error(), "refusing") {
		t.Errorf("local reboot: %v", err)
	}
	// A host that cannot reconnect is refused before anything runs.
	h := noReconnect{moduletest.Local()}
	h.Host.C = fakeRemote{local.New()}
	if err := m.Apply(ctx, h, d); err == nil || !strings.Contains(err.Error(), "Reconnector") {
		t.Errorf("no reconnector: %v", err)
	}
}

// noReconnect hides moduletest.Host's Reconnect method.
type noReconnect struct{ *moduletest.Host }

func (noReconnect) Reconnect() {}

// fakeRemote is a local connection that does not look like one.
type fakeRemote struct{ *local.Conn }
