package nvidia

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/moduletest"
	"github.com/gpuctl/gpuctl/runtime/device"
)

// TestDevice runs on a machine with an NVIDIA GPU (scripts/gpu-modules.sh
// sets GPUCTL_DEVICE=1): facts through the local connection, every module
// in check mode, and the model server's own NVML probe, which must agree
// with the facts. $OUT receives the raw probe output as a fixture.
func TestDevice(t *testing.T) {
	if os.Getenv("GPUCTL_DEVICE") == "" {
		t.Skip("GPUCTL_DEVICE not set: needs a machine with an NVIDIA GPU (scripts/gpu-modules.sh)")
	}
	ctx := context.Background()
	h := moduletest.Local()
	r, err := h.Conn().Run(ctx, probeScript)
	if err != nil || !r.OK() {
		t.Fatalf("probe: %v %+v", err, r)
	}
	if out := os.Getenv("OUT"); out != "" {
		os.WriteFile(filepath.Join(out, "probe.txt"), []byte(r.Stdout), 0o644)
	}
	f := ParseProbe(r.Stdout)
	facts := f.ToFacts()
	js, _ := json.MarshalIndent(facts, "", "  ")
	t.Logf("gpu facts:\n%s", js)
	if !f.Present() || !f.Working() {
		t.Fatalf("want a present, working GPU: %+v", f)
	}

	t.Run("nvidia_driver installed branch is no change", func(t *testing.T) {
		m := moduletest.New(t, "nvidia_driver", map[string]any{"branch": Branch(f.DriverVersion), "reboot": true})
		d, err := m.Check(ctx, h)
		if err != nil || !d.Empty() {
			t.Fatalf("want no change, got %+v, %v", d, err)
		}
		t.Logf("no change; notes: %q", d.Notes)
	})
	t.Run("nvidia_driver other branch", func(t *testing.T) {
		m := moduletest.New(t, "nvidia_driver", map[string]any{"branch": "570"})
		d, err := m.Check(ctx, h)
		t.Logf("branch 570 in check mode: changes %+v notes %q err %v", d.Changes, d.Notes, err)
	})
	t.Run("gpu_check", func(t *testing.T) {
		m := moduletest.New(t, "gpu_check", map[string]any{"nvcc": true, "min_cuda": "12.2"}).(*GPUCheck)
		d, err := m.Check(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("gpu_check: %s; result %v; notes %q", m.Message(), m.Result(), d.Notes)
	})
	t.Run("nvidia_container_toolkit check mode", func(t *testing.T) {
		m := moduletest.New(t, "nvidia_container_toolkit", map[string]any{"manage_repo": false})
		// As under --check: without containerd the runtime is known after apply.
		d, err := modules.CheckOnly(ctx, m, h)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range d.Changes {
			t.Logf("would %s %s %s %s", c.Action, c.Resource, c.Field, c.After)
		}
		t.Logf("unknown: %q", d.Unknown)
	})
	t.Run("facts agree with the model server's NVML probe", func(t *testing.T) {
		p := device.Detect()
		if !p.Usable() {
			t.Fatalf("NVML: %v", p.Err)
		}
		defer device.Close()
		t.Logf("NVML: driver %s CUDA %s GPUs %+v", p.Driver, p.CUDA, p.GPUs)
		if p.Driver != f.DriverVersion || p.CUDA != f.CUDAVersion || len(p.GPUs) != len(f.GPUs) {
			t.Fatalf("NVML says driver %s CUDA %s %d GPUs; facts say %s %s %d", p.Driver, p.CUDA, len(p.GPUs), f.DriverVersion, f.CUDAVersion, len(f.GPUs))
		}
		for i, g := range p.GPUs {
			if g.UUID != f.GPUs[i].UUID || !strings.EqualFold(g.Name, f.GPUs[i].Name) || g.MemoryTotal/(1<<20) != uint64(f.GPUs[i].MemoryMiB) {
				t.Errorf("GPU %d: NVML %s %s %d MiB; facts %+v", i, g.Name, g.UUID, g.MemoryTotal>>20, f.GPUs[i])
			}
		}
	})
}
