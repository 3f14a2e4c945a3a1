package model

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
)

// Seed returns the default model: the seed server's nn.Linear(10, 1) with
// fixed weights, so the seed's requests get answers out of the box and the
// same answer on every machine (the seed's own weights were random at start).
func Seed() *Model {
	w := make([]float32, 10)
	for i := range w {
		// Alternating signs, small magnitudes, exactly representable.
		w[i] = float32(i+1) / 16
		if i%2 == 1 {
			w[i] = -w[i]
		}
	}
	m, err := Build(Arch{Name: "seed", Inputs: 10, Layers: []ArchLayer{{Type: Linear, Weight: "linear.weight", Bias: "linear.bias"}}},
		Tensors{
			"linear.weight": {Name: "linear.weight", DType: "F32", Shape: []int{1, 10}, Data: w},
			"linear.bias":   {Name: "linear.bias", DType: "F32", Shape: []int{1}, Data: []float32{0.5}},
		})
	if err != nil {
		panic("model: built-in seed model is invalid: " + err.Error())
	}
	m.Source = "built-in"
	return m
}

// MLPSpec describes the reference MLP: Linear layers with ReLU between them.
type MLPSpec struct {
	Widths []int // e.g. 1024, 4096, 4096, 1024
	Seed   uint64
}

// ReferenceMLP is the benchmark model of the issue.
var ReferenceMLP = MLPSpec{Widths: []int{1024, 4096, 4096, 1024}, Seed: 1}

// MLP generates the architecture and weights deterministically: PCG from
// the seed, uniform in ±1/sqrt(in) as PyTorch's nn.Linear initialises, so
// activations keep a sensible scale through the layers.
func MLP(spec MLPSpec) (Arch, Tensors) {
	r := rand.New(rand.NewPCG(spec.Seed, 0x9e3779b97f4a7c15))
	a := Arch{Name: "mlp", Inputs: spec.Widths[0]}
	ts := Tensors{}
	for i := 0; i+1 < len(spec.Widths); i++ {
		in, out := spec.Widths[i], spec.Widths[i+1]
		bound := float32(1 / math.Sqrt(float64(in)))
		w := make([]float32, in*out)
		for j := range w {
			w[j] = (2*r.Float32() - 1) * bound
		}
		b := make([]float32, out)
		for j := range b {
			b[j] = (2*r.Float32() - 1) * bound
		}
		wn, bn := layerName(i)+".weight", layerName(i)+".bias"
		ts[wn] = &Tensor{Name: wn, DType: "F32", Shape: []int{out, in}, Data: w}
		ts[bn] = &Tensor{Name: bn, DType: "F32", Shape: []int{out}, Data: b}
		a.Layers = append(a.Layers, ArchLayer{Type: Linear, Weight: wn, Bias: bn})
		if i+2 < len(spec.Widths) {
			a.Layers = append(a.Layers, ArchLayer{Type: ReLU})
		}
	}
	return a, ts
}

// layerName follows nn.Sequential's numbering (Linear, ReLU, Linear, ...),
// so a PyTorch Sequential loads the same file with load_state_dict.
func layerName(i int) string { return "net." + itoa(2*i) }

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

// BuildMLP is MLP then Build.
func BuildMLP(spec MLPSpec) *Model {
	a, ts := MLP(spec)
	m, err := Build(a, ts)
	if err != nil {
		panic("model: generated MLP is invalid: " + err.Error())
	}
	m.Source = "generated"
	return m
}

// WriteFiles writes name.json and name.safetensors into dir, the layout
// Load reads; the generator and benchmarks use it.
func WriteFiles(dir, name string, a Arch, ts Tensors) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("write model: %w", err)
	}
	a.Weights = name + ".safetensors"
	js, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return "", fmt.Errorf("write model: %w", err)
	}
	archPath := filepath.Join(dir, name+".json")
	if err := os.WriteFile(archPath, append(js, '\n'), 0o644); err != nil {
		return "", fmt.Errorf("write model: %w", err)
	}
	f, err := os.Create(filepath.Join(dir, a.Weights))
	if err != nil {
		return "", fmt.Errorf("write model: %w", err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	if err := WriteSafetensors(bw, ts, map[string]string{"format": "pt", "generator": "gpuctl"}); err != nil {
		f.Close()
		return "", err
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return "", fmt.Errorf("write model: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("write model: %w", err)
	}
	return archPath, nil
}
