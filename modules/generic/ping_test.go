package generic_test

import (
	"testing"

	"github.com/gpuctl/gpuctl/modules/moduletest"
)

// ping changes nothing, in check mode or not, and returns data as ping
// (ansible.builtin.ping: {"ping": "pong"}); data: crash fails, as there.
func TestPing(t *testing.T) {
	res := moduletest.NoChange(t, moduletest.Local(), "ping", map[string]any{})
	if res["ping"] != "pong" {
		t.Errorf("result = %v", res)
	}
	if res := moduletest.NoChange(t, moduletest.Local(), "ansible.builtin.ping", map[string]any{"data": "alive"}); res["ping"] != "alive" {
		t.Errorf("result = %v", res)
	}
	if _, err := moduletest.CheckOnly(t, moduletest.Local(), "ping", map[string]any{"data": "crash"}); err == nil {
		t.Error("data: crash did not fail")
	}
	moduletest.BadArgs(t, "ping", map[string]any{"dta": "x"}, "unknown argument: dta")
}

// On a real host over SSH.
func TestPingHost(t *testing.T) {
	r := moduletest.Start(t, 1)[0]
	if res := moduletest.NoChange(t, r, "ping", map[string]any{}); res["ping"] != "pong" {
		t.Errorf("result = %v", res)
	}
}
