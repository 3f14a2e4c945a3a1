//go:build cgo && linux

package device

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// fakeLib builds testdata/fakenvml.c into a shared library with the given
// C defines; the tests load it through the same dlopen path as the real one.
func fakeLib(t *testing.T, defines ...string) string {
	t.Helper()
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Skip("no C compiler to build the fake NVML library")
	}
	out := filepath.Join(t.TempDir(), "libnvidia-ml.so.1")
	args := append([]string{"-shared", "-fPIC", "-o", out, "testdata/fakenvml.c"}, defines...)
	if b, err := exec.Command(cc, args...).CombinedOutput(); err != nil {
		t.Fatalf("cc %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	return out
}

func TestDetectReadsDriverAndGPUs(t *testing.T) {
	p, l := detect(fakeLib(t))
	if !p.Usable() {
		t.Fatalf("want a usable probe, got %v", p.Err)
	}
	defer l.shutdown()
	if p.Driver != "580.159.04" || p.CUDA != "13.0" {
		t.Errorf("driver %q CUDA %q, want 580.159.04 and 13.0", p.Driver, p.CUDA)
	}
	want := []struct {
		name, uuid string
		mem        uint64
	}{{"NVIDIA H100 80GB HBM3", "GPU-aaaa", 85520809984}, {"NVIDIA L4", "GPU-bbbb", 24152899584}}
	if len(p.GPUs) != len(want) {
		t.Fatalf("%d GPUs, want %d: %+v", len(p.GPUs), len(want), p.GPUs)
	}
	for i, w := range want {
		g := p.GPUs[i]
		if g.Kind != "cuda" || g.Name != w.name || g.UUID != w.uuid || g.MemoryTotal != w.mem || g.Driver != p.Driver || g.CUDA != p.CUDA {
			t.Errorf("GPU %d = %+v, want %s %s %d", i, g, w.name, w.uuid, w.mem)
		}
	}
}

func TestDetectWithoutLibraryIsErrNoLibrary(t *testing.T) {
	p, _ := detect(filepath.Join(t.TempDir(), "libnvidia-ml.so.1"))
	if p.Usable() || !errors.Is(p.Err, ErrNoLibrary) {
		t.Fatalf("want ErrNoLibrary, got usable=%v err=%v", p.Usable(), p.Err)
	}
}

func TestDetectInitFailureSaysWhy(t *testing.T) {
	p, _ := detect(fakeLib(t, "-DINIT_FAILS"))
	if p.Usable() || p.Err == nil || !strings.Contains(p.Err.Error(), "Driver Not Loaded") {
		t.Fatalf("want NVML's own reason, got usable=%v err=%v", p.Usable(), p.Err)
	}
}

func TestDetectMissingSymbolIsAnErrorNotACrash(t *testing.T) {
	p, _ := detect(fakeLib(t, "-DMISSING_UUID"))
	if p.Usable() || p.Err == nil || !strings.Contains(p.Err.Error(), "nvmlDeviceGetUUID") {
		t.Fatalf("want an error naming the missing symbol, got usable=%v err=%v", p.Usable(), p.Err)
	}
}

func TestCollectorReportsEachGPU(t *testing.T) {
	p, l := detect(fakeLib(t))
	if !p.Usable() {
		t.Fatal(p.Err)
	}
	defer l.shutdown()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(&Collector{lib: l, descs: newDescs()})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			got[fmt.Sprintf("%s{gpu=%s,uuid=%s,name=%s}", mf.GetName(), labels["gpu"], labels["uuid"], labels["name"])] = m.GetGauge().GetValue()
		}
	}
	want := map[string]float64{
		"gpuctl_gpu_utilization_ratio{gpu=0,uuid=GPU-aaaa,name=NVIDIA H100 80GB HBM3}":  0.42,
		"gpuctl_gpu_memory_used_bytes{gpu=0,uuid=GPU-aaaa,name=NVIDIA H100 80GB HBM3}":  1 << 30,
		"gpuctl_gpu_memory_total_bytes{gpu=0,uuid=GPU-aaaa,name=NVIDIA H100 80GB HBM3}": 85520809984,
		"gpuctl_gpu_utilization_ratio{gpu=1,uuid=GPU-bbbb,name=NVIDIA L4}":              0,
		"gpuctl_gpu_memory_used_bytes{gpu=1,uuid=GPU-bbbb,name=NVIDIA L4}":              0,
		"gpuctl_gpu_memory_total_bytes{gpu=1,uuid=GPU-bbbb,name=NVIDIA L4}":             24152899584,
	}
	if !maps.Equal(got, want) {
		t.Errorf("metrics:\n got %v\nwant %v", got, want)
	}
}

// TestDetectOnGPU runs on a machine with an NVIDIA GPU (GPUCTL_DEVICE=1):
// the real libnvidia-ml through Detect, and the collector's samples.
func TestDetectOnGPU(t *testing.T) {
	if os.Getenv("GPUCTL_DEVICE") == "" {
		t.Skip("GPUCTL_DEVICE not set: needs a machine with an NVIDIA GPU")
	}
	p := Detect()
	if !p.Usable() {
		t.Fatalf("NVML: %v", p.Err)
	}
	defer Close()
	t.Logf("driver %s CUDA %s GPUs %+v", p.Driver, p.CUDA, p.GPUs)
	if p.Driver == "" || p.CUDA == "" || p.GPUs[0].UUID == "" || p.GPUs[0].MemoryTotal == 0 {
		t.Errorf("incomplete probe: %+v", p)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewCollector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if n := len(mf.GetMetric()); n != len(p.GPUs) {
			t.Errorf("%s: %d samples for %d GPUs", mf.GetName(), n, len(p.GPUs))
		}
		for _, m := range mf.GetMetric() {
			t.Logf("%s %v = %g", mf.GetName(), m.GetLabel(), m.GetGauge().GetValue())
		}
	}
	if len(mfs) != 3 {
		t.Errorf("%d metric families, want 3", len(mfs))
	}
}
