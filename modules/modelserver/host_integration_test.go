package modelserver

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/modules"
)

func osMkdirTemp() (string, error) { return os.MkdirTemp("", "gpuctl-modelserver-") }

// TestModelServerHostMode deploys the server as a systemd unit on a real
// Debian host over SSH and has it answer the seed's prediction through the
// SSH connection; then swaps the model, and shows a failing server's
// journal.
func TestModelServerHostMode(t *testing.T) {
	h := startHost(t)
	bin := serveBinary(t)
	port := freePort(t, h.th.Addr)
	args := map[string]any{"mode": "host", "binary": bin, "address": h.th.Addr, "port": port, "device": "cpu", "timeout": "60s"}

	t.Run("built-in seed model", func(t *testing.T) {
		d, m := timeline(t, h, "model_server", args, "/etc", "/usr/local", "/var/lib/gpuctl")
		for _, want := range []string{"file:/usr/local/bin/gpuctl-serve", "file:/etc/systemd/system/model-server.service", "service:model-server"} {
			if !hasChange(d, want, "") {
				t.Errorf("check-mode diff lacks %s", want)
			}
		}
		msg := m.(modules.Messager).Message()
		t.Log(msg)
		if !strings.Contains(msg, `{"prediction":[`) || !strings.Contains(msg, "POST /predict 10 numbers") {
			t.Fatalf("message %q", msg)
		}
		if st := h.th.Run(t, "systemctl is-enabled model-server; systemctl is-active model-server"); st != "enabled\nactive" {
			t.Fatalf("unit state %q", st)
		}
	})

	t.Run("model file replaces the built-in", func(t *testing.T) {
		pid := h.th.Run(t, "systemctl show -p MainPID --value model-server")
		margs := map[string]any{"model": seedModel(t, t.TempDir())}
		for k, v := range args {
			margs[k] = v
		}
		d, m := timeline(t, h, "model_server", margs)
		if hasChange(d, "file:/usr/local/bin/gpuctl-serve", "") || !hasChange(d, "file:/var/lib/gpuctl/models/model-server/seed.safetensors", "") || !hasChange(d, "service:model-server", "restart") {
			t.Fatalf("diff:\n%s", describe(d))
		}
		msg := m.(modules.Messager).Message()
		t.Log(msg)
		// 0.5 + Σ 0.1(i+1)·i/10 for i < 10 = 3.8
		if !strings.Contains(msg, `{"prediction":[3.8`) {
			t.Fatalf("message %q", msg)
		}
		if h.th.Run(t, "systemctl show -p MainPID --value model-server") == pid {
			t.Fatal("not restarted after the model changed")
		}
	})

	t.Run("failure shows the journal", func(t *testing.T) {
		bad := map[string]any{"extra_args": []any{"--max-batch=0"}, "timeout": "6s"}
		for k, v := range args {
			if k != "timeout" {
				bad[k] = v
			}
		}
		m := newModule(t, "model_server", bad)
		d, err := m.Check(context.Background(), h)
		if err != nil {
			t.Fatal(err)
		}
		err = m.Apply(context.Background(), h, d)
		if err == nil || !strings.Contains(err.Error(), "journal of model-server.service") {
			t.Fatalf("err %v", err)
		}
		t.Logf("failure as reported:\n%v", err)
	})
}
