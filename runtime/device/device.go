// Package device finds GPUs with NVML at start, so the server can say what
// it found and why it chose its compute path, and reads their utilisation
// and memory for /metrics.
package device

import (
	"fmt"

	"github.com/gpuctl/gpuctl/runtime/backend"
)

// Probe is what NVML reported.
type Probe struct {
	Driver string           // driver version, e.g. 580.159.04
	CUDA   string           // highest CUDA version the driver supports, e.g. 13.0
	GPUs   []backend.Device // in NVML index order
	// Err says why no GPU is usable (library missing, no device, ...);
	// nil when at least one GPU was found.
	Err error
}

// Usable reports whether NVML found at least one GPU.
func (p Probe) Usable() bool { return p.Err == nil && len(p.GPUs) > 0 }

func cudaVersion(v int) string {
	return fmt.Sprintf("%d.%d", v/1000, (v%1000)/10)
}
