package nvidia

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/gpuctl/gpuctl/modules/moduletest"
)

// localFacts gathers the facts of the machine the tests run on.
func localFacts(t *testing.T) Facts {
	t.Helper()
	f, err := Gather(context.Background(), moduletest.Local().Conn())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestNoGPUHostReportsCleanly runs every module against the real machine
// the tests run on when it has no NVIDIA GPU (CI): each skips with "no
// NVIDIA GPU found" and changes nothing, or fails with ErrNoGPU when the
// task requires a GPU.
func TestNoGPUHostReportsCleanly(t *testing.T) {
	if localFacts(t).Present() {
		t.Skip("this machine has an NVIDIA GPU; TestDevice covers it")
	}
	ctx := context.Background()
	h := moduletest.Local()
	for name, args := range map[string]map[string]any{
		"nvidia_driver":            {},
		"gpu_check":                {"nvcc": true},
		"nvidia_container_toolkit": {},
	} {
		t.Run(name, func(t *testing.T) {
			m := moduletest.New(t, name, args)
			d, err := m.Check(ctx, h)
			if err != nil || !d.Empty() {
				t.Fatalf("want a clean skip, got %+v, %v", d, err)
			}
			if s := m.(interface{ Skip() string }).Skip(); s != "no NVIDIA GPU found" {
				t.Errorf("Skip() = %q", s)
			}
		})
	}
	for name, args := range map[string]map[string]any{
		"nvidia_driver":            {"require_gpu": true},
		"gpu_check":                {"require_gpu": true},
		"nvidia_container_toolkit": {"when_no_gpu": "fail"},
	} {
		t.Run(name+"/required", func(t *testing.T) {
			_, err := moduletest.New(t, name, args).Check(ctx, h)
			if !errors.Is(err, ErrNoGPU) {
				t.Fatalf("want ErrNoGPU, got %v", err)
			}
			t.Log(err)
		})
	}
}

// TestGatherLocal checks the probe runs on this machine and its facts are
// self-consistent; GPUCTL_RECORD_PROBE=FILE saves the raw probe output as
// a fixture.
func TestGatherLocal(t *testing.T) {
	r, err := moduletest.Local().Conn().Run(context.Background(), probeScript)
	if err != nil || !r.OK() {
		t.Fatalf("probe: %v %+v", err, r)
	}
	if p := os.Getenv("GPUCTL_RECORD_PROBE"); p != "" {
		if err := os.WriteFile(p, []byte(r.Stdout), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f := ParseProbe(r.Stdout)
	facts := f.ToFacts()
	if facts["gpu_present"] != (facts["gpu_count"].(int) > 0) {
		t.Errorf("gpu_present and gpu_count disagree: %v", facts)
	}
	if f.KernelRelease == "" || f.OS["ID"] == "" {
		t.Errorf("kernel or OS missing: %+v", f)
	}
}
