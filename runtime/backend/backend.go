// Package backend defines what the server needs from a compute device and
// the precision modes a device may offer.
package backend

import (
	"context"
	"fmt"
)

// Backend runs a loaded model on one device.
type Backend interface {
	// Forward computes rows rows of x (rows×In, row-major) into out
	// (rows×Out). It may be called from several goroutines.
	Forward(ctx context.Context, x []float32, rows int, out []float32) error
	// Device describes where the model runs, for / and /v2 metadata.
	Device() Device
	Close() error
}

// HostMemory is offered by backends whose Forward is fastest on host
// memory they allocate: the CUDA backend's AllocHost gives page-locked
// memory that the GPU copies from and into directly, skipping a staging
// copy of every row. A server may parse requests into such buffers and
// pool them (allocating is slow: keep and reuse them); Forward accepts any
// memory, these only faster. FreeHost returns a buffer.
type HostMemory interface {
	AllocHost(n int) ([]float32, error)
	FreeHost(b []float32) error
}

// Device is what the server reports about the compute device.
type Device struct {
	Kind      string `json:"kind"` // "cpu" or "cuda"
	Name      string `json:"name"`
	Precision string `json:"precision"` // fp32, tf32, bf16
	Threads   int    `json:"threads,omitempty"`
	// GPU details, from NVML and the CUDA runtime.
	Driver      string `json:"driver_version,omitempty"`
	CUDA        string `json:"cuda_version,omitempty"`
	UUID        string `json:"uuid,omitempty"`
	MemoryTotal uint64 `json:"memory_total_bytes,omitempty"`
	Library     string `json:"library,omitempty"`
}

// Precision names a numeric mode for the matrix products.
type Precision string

const (
	FP32 Precision = "fp32" // IEEE float32 products
	TF32 Precision = "tf32" // float32 storage, tensor-core products with 10-bit mantissas
	BF16 Precision = "bf16" // bfloat16 weights and activations, float32 accumulation
)

// ParsePrecision validates a --precision flag.
func ParsePrecision(s string) (Precision, error) {
	switch p := Precision(s); p {
	case FP32, TF32, BF16:
		return p, nil
	}
	return "", fmt.Errorf("precision %q: want fp32, tf32 or bf16", s)
}
