package modelserver

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/modelserver/internal/imagetest"
	"github.com/gpuctl/gpuctl/modules/moduletest"
)

func osMkdirTemp() (string, error) { return os.MkdirTemp("", "gpuctl-modelserver-") }

// TestModelServerHostMode deploys the server as a systemd unit on a real
// Debian host over SSH and has it answer the seed's prediction through the
// SSH connection; then swaps the model, and shows a failing server's
// journal.
func TestModelServerHostMode(t *testing.T) {
	h := moduletest.Start(t, 1)[0]
	bin := serveBinary(t)
	port := freePort(t, h.TH.Addr)
	args := map[string]any{"mode": "host", "binary": bin, "address": h.TH.Addr, "port": port, "device": "cpu", "timeout": "60s"}

	t.Run("built-in seed model", func(t *testing.T) {
		d, m := h.TimelineModule(t, "model_server", args, "/etc", "/usr/local", "/var/lib/gpuctl")
		for _, want := range []string{"file:/usr/local/bin/gpuctl-serve", "file:/etc/systemd/system/model-server.service", "service:model-server"} {
			if !moduletest.HasChange(d, want, "") {
				t.Errorf("check-mode diff lacks %s", want)
			}
		}
		msg := m.(modules.Messager).Message()
		t.Log(msg)
		if !strings.Contains(msg, `{"prediction":[`) || !strings.Contains(msg, "POST /predict 10 numbers") {
			t.Fatalf("message %q", msg)
		}
		if st := h.TH.Run(t, "systemctl is-enabled model-server; systemctl is-active model-server"); st != "enabled\nactive" {
			t.Fatalf("unit state %q", st)
		}
	})

	t.Run("model file replaces the built-in", func(t *testing.T) {
		pid := h.TH.Run(t, "systemctl show -p MainPID --value model-server")
		margs := map[string]any{"model": imagetest.SeedModel(t, t.TempDir())}
		for k, v := range args {
			margs[k] = v
		}
		d, m := h.TimelineModule(t, "model_server", margs)
		if moduletest.HasChange(d, "file:/usr/local/bin/gpuctl-serve", "") || !moduletest.HasChange(d, "file:/var/lib/gpuctl/models/model-server/seed.safetensors", "") || !moduletest.HasChange(d, "service:model-server", "restart") {
			t.Fatalf("diff:\n%s", moduletest.Describe(d))
		}
		msg := m.(modules.Messager).Message()
		t.Log(msg)
		// 0.5 + Σ 0.1(i+1)·i/10 for i < 10 = 3.8
		if !strings.Contains(msg, `{"prediction":[3.8`) {
			t.Fatalf("message %q", msg)
		}
		if h.TH.Run(t, "systemctl show -p MainPID --value model-server") == pid {
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
		m := moduletest.New(t, "model_server", bad)
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
