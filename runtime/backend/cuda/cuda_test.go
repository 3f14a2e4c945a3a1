package cuda

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/gpuctl/gpuctl/runtime/backend"
	"github.com/gpuctl/gpuctl/runtime/model"
)

// newOrSkip gives a backend or skips: CI has no GPU.
func newOrSkip(t *testing.T, m *model.Model, p backend.Precision, noLt ...bool) *CUDA {
	t.Helper()
	c, err := New(m, p, Options{MaxRows: 512, NoLt: len(noLt) > 0 && noLt[0]})
	if errors.Is(err, ErrNoLibrary) {
		t.Skipf("no GPU here: %v", err)
	}
	if err != nil {
		t.Fatalf("cuda backend (%s): %v", p, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func randInput(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = 2*r.Float32() - 1
	}
	return x
}

// tolerance per precision, relative to the float64 reference (‖out−ref‖/‖ref‖).
var tolerance = map[backend.Precision]float64{backend.FP32: 1e-4, backend.TF32: 2e-3, backend.BF16: 2e-2}

func TestMLPMatchesReference(t *testing.T) {
	spec := model.MLPSpec{Widths: []int{256, 1024, 1024, 256}, Seed: 1}
	if !testing.Short() {
		spec = model.ReferenceMLP
	}
	m := model.BuildMLP(spec)
	for _, p := range []backend.Precision{backend.FP32, backend.TF32, backend.BF16} {
		for _, noLt := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/noLt=%v", p, noLt), func(t *testing.T) {
				c := newOrSkip(t, m, p, noLt)
				r := rand.New(rand.NewPCG(uint64(len(p)), 11))
				for _, rows := range []int{1, 3, 256, 700} { // 700 > MaxRows: two chunks
					x := randInput(r, rows*m.In)
					out := make([]float32, rows*m.Out)
					for i := range out {
						out[i] = 12345 // poison
					}
					if err := c.Forward(context.Background(), x, rows, out); err != nil {
						t.Fatal(err)
					}
					e := model.RelErr(out, m.Reference(x, rows))
					t.Logf("%s rows %d: relative error %.2e", p, rows, e)
					if e > tolerance[p] {
						t.Fatalf("%s rows %d: relative error %g over %g", p, rows, e, tolerance[p])
					}
				}
			})
		}
	}
}

// Products without bias, and activations the epilogue cannot apply.
func TestFusionVariants(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	ts := model.Tensors{
		"a.weight": {Name: "a.weight", Shape: []int{48, 32}, Data: randInput(r, 48*32)},
		"a.bias":   {Name: "a.bias", Shape: []int{48}, Data: randInput(r, 48)},
		"b.weight": {Name: "b.weight", Shape: []int{40, 48}, Data: randInput(r, 40*48)},
		"c.weight": {Name: "c.weight", Shape: []int{24, 40}, Data: randInput(r, 24*40)},
		"d.weight": {Name: "d.weight", Shape: []int{8, 24}, Data: randInput(r, 8*24)},
	}
	a := model.Arch{Inputs: 32, Layers: []model.ArchLayer{
		{Type: model.Linear, Weight: "a.weight", Bias: "a.bias"}, {Type: model.GELU},
		{Type: model.Linear, Weight: "b.weight"}, {Type: model.ReLU},
		{Type: model.Linear, Weight: "c.weight"}, {Type: model.Sigmoid},
		{Type: model.Linear, Weight: "d.weight"},
	}}
	m, err := model.Build(a, ts)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []backend.Precision{backend.FP32, backend.BF16} {
		for _, noLt := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/noLt=%v", p, noLt), func(t *testing.T) {
				c := newOrSkip(t, m, p, noLt)
				for _, rows := range []int{1, 17} {
					x := randInput(r, rows*m.In)
					out := make([]float32, rows*m.Out)
					if err := c.Forward(context.Background(), x, rows, out); err != nil {
						t.Fatal(err)
					}
					e := model.RelErr(out, m.Reference(x, rows))
					t.Logf("%s noLt=%v rows %d: relative error %.2e", p, noLt, rows, e)
					if e > tolerance[p] {
						t.Fatalf("relative error %g", e)
					}
				}
			})
		}
	}
}

// Every layer type on the GPU against the reference.
func TestAllLayers(t *testing.T) {
	a, ts := model.MLP(model.MLPSpec{Widths: []int{64, 96, 40}, Seed: 3})
	r := rand.New(rand.NewPCG(1, 2))
	ts["ln.weight"] = &model.Tensor{Name: "ln.weight", Shape: []int{96}, Data: randInput(r, 96)}
	ts["ln.bias"] = &model.Tensor{Name: "ln.bias", Shape: []int{96}, Data: randInput(r, 96)}
	a.Layers = []model.ArchLayer{a.Layers[0], {Type: model.LayerNorm, Weight: "ln.weight", Bias: "ln.bias"}, {Type: model.GELU},
		{Type: model.Tanh}, {Type: model.Sigmoid}, {Type: model.GELU, Approximate: "tanh"}, a.Layers[2], {Type: model.Softmax}}
	m, err := model.Build(a, ts)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []backend.Precision{backend.FP32, backend.BF16} {
		t.Run(string(p), func(t *testing.T) {
			c := newOrSkip(t, m, p)
			for _, rows := range []int{1, 33} {
				x := randInput(r, rows*m.In)
				out := make([]float32, rows*m.Out)
				if err := c.Forward(context.Background(), x, rows, out); err != nil {
					t.Fatal(err)
				}
				e := model.RelErr(out, m.Reference(x, rows))
				lt, fb, why := c.Paths()
				t.Logf("%s rows %d: relative error %.2e (cuBLASLt %d, GemmEx %d %s)", p, rows, e, lt, fb, why)
				if e > tolerance[p] {
					t.Fatalf("%s rows %d: relative error %g", p, rows, e)
				}
			}
		})
	}
}

// The pipeline: requests cut into several chunks, larger than MaxRows,
// from ordinary and from AllocHost memory, with graphs on and off.
func TestPipelineChunksPinnedGraphs(t *testing.T) {
	m := model.BuildMLP(model.MLPSpec{Widths: []int{256, 1024, 1024, 256}, Seed: 2})
	for _, graphs := range []bool{false, true} {
		for _, p := range []backend.Precision{backend.FP32, backend.BF16} {
			t.Run(fmt.Sprintf("%s/graphs=%v", p, graphs), func(t *testing.T) {
				c, err := New(m, p, Options{MaxRows: 512, ChunkRows: 64, Graphs: graphs})
				if errors.Is(err, ErrNoLibrary) {
					t.Skipf("no GPU here: %v", err)
				}
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				r := rand.New(rand.NewPCG(uint64(len(p)), 3))
				for _, rows := range []int{1, 130, 700, 2000} {
					for _, pinned := range []bool{false, true} {
						x, out := randInput(r, rows*m.In), make([]float32, rows*m.Out)
						if pinned {
							px, err := c.AllocHost(len(x))
							if err != nil {
								t.Fatal(err)
							}
							po, err := c.AllocHost(len(out))
							if err != nil {
								t.Fatal(err)
							}
							copy(px, x)
							x, out = px, po
						}
						for i := range out {
							out[i] = 12345 // poison
						}
						if err := c.Forward(context.Background(), x, rows, out); err != nil {
							t.Fatal(err)
						}
						e := model.RelErr(out, m.Reference(x, rows))
						if e > tolerance[p] {
							t.Fatalf("rows %d pinned=%v: relative error %g over %g", rows, pinned, e, tolerance[p])
						}
						if pinned {
							if err := c.FreeHost(x); err != nil {
								t.Fatal(err)
							}
							if err := c.FreeHost(out); err != nil {
								t.Fatal(err)
							}
						}
					}
				}
				if err := c.FreeHost(make([]float32, 4)); err == nil {
					t.Fatal("FreeHost accepted memory AllocHost did not give")
				}
			})
		}
	}
}

// Concurrent Forward calls overlap in the pipeline (one enqueues while
// another's chunks are on the GPU); each must get its own rows' answers,
// whatever the mix of sizes, memory kinds and chunking.
func TestPipelineConcurrentCallers(t *testing.T) {
	m := model.BuildMLP(model.MLPSpec{Widths: []int{256, 1024, 1024, 256}, Seed: 5})
	for _, graphs := range []bool{false, true} {
		t.Run(fmt.Sprintf("graphs=%v", graphs), func(t *testing.T) {
			c, err := New(m, backend.FP32, Options{MaxRows: 512, ChunkRows: 64, Graphs: graphs})
			if errors.Is(err, ErrNoLibrary) {
				t.Skipf("no GPU here: %v", err)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var wg sync.WaitGroup
			for g := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := rand.New(rand.NewPCG(uint64(g), 9))
					for it, rows := range []int{1, 300, 64, 1000, 129, 512} {
						x, out := randInput(r, rows*m.In), make([]float32, rows*m.Out)
						if (g+it)%2 == 1 {
							px, err1 := c.AllocHost(len(x))
							po, err2 := c.AllocHost(len(out))
							if err1 != nil || err2 != nil {
								t.Error(err1, err2)
								return
							}
							defer c.FreeHost(px)
							defer c.FreeHost(po)
							copy(px, x)
							x, out = px, po
						}
						for i := range out {
							out[i] = 12345 // poison
						}
						if err := c.Forward(context.Background(), x, rows, out); err != nil {
							t.Error(err)
							return
						}
						if e := model.RelErr(out, m.Reference(x, rows)); e > tolerance[backend.FP32] {
							t.Errorf("caller %d rows %d: relative error %g", g, rows, e)
							return
						}
					}
				}()
			}
			wg.Wait()
		})
	}
}
