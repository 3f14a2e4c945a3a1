// Package model loads inference models exported from PyTorch: a small JSON
// architecture (a sequence of layers) plus weights in safetensors. It checks
// shapes, dtypes, and missing or unused tensors at load time so a bad export
// fails at start with a message naming the tensor, not at the first request.
package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Kind is a layer type.
type Kind string

const (
	Linear    Kind = "linear"
	ReLU      Kind = "relu"
	GELU      Kind = "gelu"
	Sigmoid   Kind = "sigmoid"
	Tanh      Kind = "tanh"
	Softmax   Kind = "softmax"
	LayerNorm Kind = "layernorm"
)

var kinds = []Kind{Linear, ReLU, GELU, Sigmoid, Tanh, Softmax, LayerNorm}

// Arch is the architecture file: what a user writes next to the weights.
//
//	{"name": "seed", "inputs": 10,
//	 "layers": [{"type": "linear", "weight": "linear.weight", "bias": "linear.bias"}]}
type Arch struct {
	Name       string      `json:"name"`
	Version    string      `json:"version,omitempty"`
	Inputs     int         `json:"inputs"`
	InputName  string      `json:"input_name,omitempty"`
	OutputName string      `json:"output_name,omitempty"`
	Weights    string      `json:"weights,omitempty"` // safetensors file, relative to the JSON file
	Layers     []ArchLayer `json:"layers"`
}

// ArchLayer is one layer of Arch. Weight and bias name tensors in the
// safetensors file; for layernorm they are gamma and beta.
type ArchLayer struct {
	Type        Kind    `json:"type"`
	Weight      string  `json:"weight,omitempty"`
	Bias        string  `json:"bias,omitempty"`
	In          int     `json:"in,omitempty"`
	Out         int     `json:"out,omitempty"`
	Eps         float64 `json:"eps,omitempty"`
	Approximate string  `json:"approximate,omitempty"` // gelu: "none" (erf) or "tanh"
}

// Layer is a checked layer with its weights in row-major float32.
type Layer struct {
	Kind   Kind
	In     int       // features in
	Out    int       // features out
	W      []float32 // linear: [Out][In] (PyTorch layout); layernorm: [In] gamma
	B      []float32 // linear: [Out] or nil; layernorm: [In] beta or nil
	Eps    float32
	Approx bool // gelu tanh approximation
}

// Model is a checked model ready for a backend.
type Model struct {
	Name       string
	Version    string
	In, Out    int
	InputName  string
	OutputName string
	Layers     []Layer
	// Source says where the model came from, for logs and /v2 metadata.
	Source string
}

// Params returns the number of weights, for logs.
func (m *Model) Params() int {
	n := 0
	for _, l := range m.Layers {
		n += len(l.W) + len(l.B)
	}
	return n
}

// FLOPs returns multiply-adds times two per row, for throughput reports.
func (m *Model) FLOPs() float64 {
	f := 0.0
	for _, l := range m.Layers {
		if l.Kind == Linear {
			f += 2 * float64(l.In) * float64(l.Out)
		}
	}
	return f
}

// Load reads an architecture JSON file and the safetensors weights it
// names (or that sit beside it with the same base name).
func Load(archPath string) (*Model, error) {
	b, err := os.ReadFile(archPath)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	var a Arch
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		return nil, fmt.Errorf("model %s: architecture: %w", archPath, err)
	}
	wpath := a.Weights
	if wpath == "" {
		wpath = strings.TrimSuffix(archPath, filepath.Ext(archPath)) + ".safetensors"
	} else if !filepath.IsAbs(wpath) {
		wpath = filepath.Join(filepath.Dir(archPath), wpath)
	}
	ts, err := ReadSafetensorsFile(wpath)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", archPath, err)
	}
	m, err := Build(a, ts)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", archPath, err)
	}
	m.Source = archPath
	return m, nil
}

// Build checks an architecture against its tensors. Every tensor must be
// used exactly once: an unused tensor usually means the architecture file
// and the export disagree, which we would rather hear about at start.
func Build(a Arch, ts Tensors) (*Model, error) {
	if a.Inputs <= 0 {
		return nil, fmt.Errorf("architecture: \"inputs\" must be a positive feature count, got %d", a.Inputs)
	}
	if len(a.Layers) == 0 {
		return nil, errors.New("architecture: no layers")
	}
	m := &Model{Name: a.Name, Version: a.Version, In: a.Inputs, InputName: a.InputName, OutputName: a.OutputName}
	if m.Name == "" {
		m.Name = "model"
	}
	if m.Version == "" {
		m.Version = "1"
	}
	if m.InputName == "" {
		m.InputName = "input"
	}
	if m.OutputName == "" {
		m.OutputName = "output"
	}
	used := map[string]int{}
	take := func(i int, role, name string, want ...int) ([]float32, error) {
		t, ok := ts[name]
		if !ok {
			return nil, fmt.Errorf("layer %d (%s): tensor %q is missing from the weights (have: %s)", i, role, name, strings.Join(names(ts), ", "))
		}
		if len(want) > 0 && !equalShape(t.Shape, want) {
			return nil, fmt.Errorf("layer %d (%s): tensor %q has shape %v, expected %v", i, role, name, t.Shape, want)
		}
		used[name]++
		return t.Data, nil
	}
	width := a.Inputs
	for i, al := range a.Layers {
		l := Layer{Kind: al.Type, In: width, Out: width}
		switch al.Type {
		case Linear:
			if al.Weight == "" {
				return nil, fmt.Errorf("layer %d (linear): \"weight\" names no tensor", i)
			}
			t, ok := ts[al.Weight]
			if !ok {
				return nil, fmt.Errorf("layer %d (linear): tensor %q is missing from the weights (have: %s)", i, al.Weight, strings.Join(names(ts), ", "))
			}
			if len(t.Shape) != 2 {
				return nil, fmt.Errorf("layer %d (linear): weight %q has shape %v, expected [out, in]", i, al.Weight, t.Shape)
			}
			out, in := t.Shape[0], t.Shape[1]
			if in != width {
				return nil, fmt.Errorf("layer %d (linear): weight %q has shape %v, so it takes %d features, but the previous layer gives %d", i, al.Weight, t.Shape, in, width)
			}
			if (al.In != 0 && al.In != in) || (al.Out != 0 && al.Out != out) {
				return nil, fmt.Errorf("layer %d (linear): architecture says %d→%d, weight %q has shape %v", i, al.In, al.Out, al.Weight, t.Shape)
			}
			w, _ := take(i, "linear weight", al.Weight)
			l.W, l.Out = w, out
			if al.Bias != "" {
				b, err := take(i, "linear bias", al.Bias, out)
				if err != nil {
					return nil, err
				}
				l.B = b
			}
			width = out
		case LayerNorm:
			l.Eps = 1e-5
			if al.Eps != 0 {
				l.Eps = float32(al.Eps)
			}
			if al.Weight != "" {
				w, err := take(i, "layernorm weight", al.Weight, width)
				if err != nil {
					return nil, err
				}
				l.W = w
			}
			if al.Bias != "" {
				b, err := take(i, "layernorm bias", al.Bias, width)
				if err != nil {
					return nil, err
				}
				l.B = b
			}
		case GELU:
			switch al.Approximate {
			case "", "none":
			case "tanh":
				l.Approx = true
			default:
				return nil, fmt.Errorf("layer %d (gelu): approximate must be \"none\" or \"tanh\", got %q", i, al.Approximate)
			}
			fallthrough
		case ReLU, Sigmoid, Tanh, Softmax:
			if al.Weight != "" || al.Bias != "" {
				return nil, fmt.Errorf("layer %d (%s) takes no weights", i, al.Type)
			}
		default:
			return nil, fmt.Errorf("layer %d: unknown type %q; known: %v", i, al.Type, kinds)
		}
		m.Layers = append(m.Layers, l)
	}
	m.Out = width
	var unused []string
	for _, n := range names(ts) {
		if used[n] == 0 {
			unused = append(unused, n)
		}
		if used[n] > 1 {
			return nil, fmt.Errorf("tensor %q is used by %d layers; tied weights are not supported", n, used[n])
		}
	}
	if len(unused) > 0 {
		return nil, fmt.Errorf("tensors not used by any layer: %s (does the architecture match the export?)", strings.Join(unused, ", "))
	}
	return m, nil
}

func names(ts Tensors) []string {
	out := make([]string, 0, len(ts))
	for n := range ts {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func equalShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
