package nvidia

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:      "gpu_check",
		Summary:   "verify the NVIDIA driver, CUDA and optionally a CUDA container on the host",
		CheckMode: "runs the read-only checks (nvidia-smi, nvcc); the container test is reported as would-run",
		Example: `- name: GPU works on the host
  gpu_check:
    nvcc: true
    min_cuda: "12.2"`,
		New: func() modules.Module { return &GPUCheck{} },
	})
}

// GPUCheck turns the seed's host checks (nvidia-smi, nvcc --version, a CUDA
// container) into one task whose every failure says what to do.
type GPUCheck struct {
	RequireGPU     bool   `yaml:"require_gpu" doc:"fail instead of skipping when the host has no NVIDIA GPU"`
	MinCUDA        string `yaml:"min_cuda" doc:"lowest CUDA version the driver must support, e.g. 12.2"`
	Count          int    `yaml:"count" doc:"number of GPUs nvidia-smi must see; 0 means as many as on the PCI bus"`
	NVCC           bool   `yaml:"nvcc" doc:"also require the CUDA compiler (nvcc --version)"`
	NVCCPath       string `yaml:"nvcc_path" default:"/usr/local/cuda/bin/nvcc" doc:"nvcc to try when it is not on PATH"`
	ContainerTest  bool   `yaml:"container_test" doc:"run nvidia-smi in a CUDA container through containerd (ctr) and the nvidia runtime"`
	ContainerImage string `yaml:"container_image" default:"docker.io/nvidia/cuda:12.2.0-base-ubuntu22.04" doc:"image for the container test"`
	Runtime        string `yaml:"runtime_binary" default:"/usr/bin/nvidia-container-runtime" doc:"runc-compatible binary the container test uses"`

	skip   string
	result map[string]any
}

var (
	_ modules.Module     = (*GPUCheck)(nil)
	_ modules.Skipper    = (*GPUCheck)(nil)
	_ modules.Resulter   = (*GPUCheck)(nil)
	_ modules.Messager   = (*GPUCheck)(nil)
	_ modules.Unverified = (*GPUCheck)(nil)
)

func (m *GPUCheck) Validate() error {
	if m.MinCUDA != "" {
		if _, err := parseMajorMinor(m.MinCUDA); err != nil {
			return fmt.Errorf("min_cuda: %w", err)
		}
	}
	if m.Count < 0 {
		return errors.New("count must be 0 or more")
	}
	if m.ContainerTest && m.ContainerImage == "" {
		return errors.New("container_test needs container_image")
	}
	return nil
}

// ErrNoGPU is returned (wrapped) when a task requires a GPU the host lacks.
var ErrNoGPU = errors.New("no NVIDIA GPU found")

func noGPU(h modules.Host) error {
	return fmt.Errorf("%s: %w (no PCI device with vendor 0x10de and a display class in /sys/bus/pci/devices)", h.Name(), ErrNoGPU)
}

func (m *GPUCheck) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	var d plan.Diff
	m.skip = ""
	f, err := Gather(ctx, h.Conn())
	if err != nil {
		return d, fmt.Errorf("%s: %w", h.Name(), err)
	}
	if !f.Present() {
		if m.RequireGPU {
			return d, noGPU(h)
		}
		m.skip = ErrNoGPU.Error()
		return d, nil
	}
	problems := m.diagnose(f)
	m.result = map[string]any{
		"driver_version": f.DriverVersion,
		"cuda_version":   f.CUDAVersion,
		"gpus":           f.ToFacts()["gpu_names"],
	}
	if m.NVCC && len(problems) == 0 {
		rel, err := m.nvcc(ctx, h)
		if err != nil {
			problems = append(problems, err.Error())
		}
		m.result["nvcc_version"] = rel
	}
	if len(problems) > 0 {
		return d, fmt.Errorf("%s: GPU check failed:\n  - %s", h.Name(), strings.Join(problems, "\n  - "))
	}
	if !f.HeadersInstalled {
		d.Note(fmt.Sprintf("kernel headers for %s are not installed: DKMS cannot rebuild the driver after a kernel upgrade", f.KernelRelease))
	}
	if m.ContainerTest {
		d.Add(plan.Change{Resource: "container:gpu-check", Action: plan.Run, After: m.ContainerImage + ": nvidia-smi -L"})
	}
	return d, nil
}

// diagnose lists what is wrong with the driver, each with what to do.
func (m *GPUCheck) diagnose(f Facts) []string {
	var p []string
	switch {
	case f.LoadedDriver == "nouveau":
		p = append(p, "nouveau is loaded and holds the GPU: run nvidia_driver (it blacklists nouveau and rebuilds the initramfs), then reboot")
	case f.LoadedDriver == "" && f.SMIPresent:
		p = append(p, "driver installed but module not loaded: reboot required (or `modprobe nvidia`; if that fails with \"Key was rejected\", Secure Boot needs the module signed)")
	case f.LoadedDriver == "":
		p = append(p, "no NVIDIA driver installed: run the nvidia_driver module")
	case !f.SMIPresent:
		p = append(p, "the nvidia module is loaded but nvidia-smi is missing: install the driver's utilities (nvidia_driver installs them)")
	case f.SMIError != "":
		p = append(p, f.SMIError)
	}
	if len(p) > 0 {
		return p
	}
	if f.DriverVersion == "" {
		p = append(p, "nvidia-smi did not report a driver version")
	}
	if f.CUDAVersion == "" {
		p = append(p, "nvidia-smi did not report a CUDA version")
	} else if m.MinCUDA != "" && versionLess(f.CUDAVersion, m.MinCUDA) {
		p = append(p, fmt.Sprintf("driver %s supports CUDA %s, below the required %s: install a newer driver branch (nvidia_driver branch:)", f.DriverVersion, f.CUDAVersion, m.MinCUDA))
	}
	want := m.Count
	if want == 0 {
		want = f.Count()
	}
	if len(f.GPUs) != want {
		p = append(p, fmt.Sprintf("nvidia-smi sees %d GPU(s), expected %d: check `nvidia-smi -L` and dmesg for GPUs that fell off the bus or are excluded", len(f.GPUs), want))
	}
	for _, g := range f.GPUs {
		if g.DriverVersion != "" && g.DriverVersion != f.DriverVersion {
			p = append(p, fmt.Sprintf("nvidia-smi reports driver %s but the kernel module is %s: driver/library version mismatch, reboot", g.DriverVersion, f.DriverVersion))
			break
		}
	}
	return p
}

func (m *GPUCheck) nvcc(ctx context.Context, h modules.Host) (string, error) {
	cmd := "nvcc --version 2>&1 || " + conn.Quote(m.NVCCPath) + " --version 2>&1"
	r, err := h.Conn().Run(ctx, "export PATH=\"$PATH:/usr/local/cuda/bin\"; "+cmd)
	if err != nil {
		return "", fmt.Errorf("nvcc: %w", err)
	}
	rel, _, ok := ParseNVCC(r.Stdout)
	if !ok {
		return "", errors.New("nvcc (the CUDA toolkit) is not installed: install cuda-toolkit from NVIDIA's CUDA repository, or nvidia-cuda-toolkit from the distribution")
	}
	return rel, nil
}

// Apply runs the container test, the only part with an effect (an image
// pull and a short-lived container).
func (m *GPUCheck) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	if !m.ContainerTest {
		return nil
	}
	img := conn.Quote(m.ContainerImage)
	if _, err := run(ctx, h, "ctr -n gpuctl image pull "+img+" >/dev/null"); err != nil {
		return fmt.Errorf("CUDA container test: image pull failed (is the registry reachable?): %w", err)
	}
	out, err := run(ctx, h, "ctr -n gpuctl run --rm --runc-binary "+conn.Quote(m.Runtime)+
		" --env NVIDIA_VISIBLE_DEVICES=all --env NVIDIA_DRIVER_CAPABILITIES=utility,compute "+img+
		" gpuctl-gpu-check-$$ nvidia-smi -L")
	if err != nil {
		return fmt.Errorf("CUDA container test failed: the nvidia runtime could not give the container a GPU (run nvidia_container_toolkit; see docs/troubleshooting-gpu.md): %w", err)
	}
	if !strings.Contains(out, "GPU 0") {
		return fmt.Errorf("%s: CUDA container test: nvidia-smi in the container listed no GPU: %q", h.Name(), out)
	}
	m.result["container_gpus"] = strings.TrimSpace(out)
	return nil
}

func (m *GPUCheck) Skip() string           { return m.skip }
func (m *GPUCheck) Unverified() bool       { return m.ContainerTest }
func (m *GPUCheck) Result() map[string]any { return m.result }
func (m *GPUCheck) Message() string {
	if m.result == nil {
		return ""
	}
	return fmt.Sprintf("driver %v, CUDA %v, %v", m.result["driver_version"], m.result["cuda_version"], m.result["gpus"])
}

func parseMajorMinor(v string) ([2]int, error) {
	var out [2]int
	parts := strings.SplitN(strings.TrimSpace(v), ".", 3)
	for i := 0; i < 2; i++ {
		if i >= len(parts) {
			break
		}
		n, err := strconv.Atoi(parts[i])
		if err != nil {
			return out, fmt.Errorf("%q is not a version like 12.2", v)
		}
		out[i] = n
	}
	return out, nil
}

func versionLess(a, b string) bool {
	x, err1 := parseMajorMinor(a)
	y, err2 := parseMajorMinor(b)
	if err1 != nil || err2 != nil {
		return false
	}
	return x[0] < y[0] || x[0] == y[0] && x[1] < y[1]
}
