package cpu

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/gpuctl/gpuctl/runtime/model"
)

func randInput(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = 2*r.Float32() - 1
	}
	return x
}

// every layer type, checked against the float64 reference.
func TestAllLayersMatchReference(t *testing.T) {
	a, ts := model.MLP(model.MLPSpec{Widths: []int{16, 32, 8}, Seed: 3})
	ts["ln.weight"] = &model.Tensor{Name: "ln.weight", Shape: []int{32}, Data: randInput(rand.New(rand.NewPCG(1, 2)), 32)}
	ts["ln.bias"] = &model.Tensor{Name: "ln.bias", Shape: []int{32}, Data: randInput(rand.New(rand.NewPCG(3, 4)), 32)}
	layers := []model.ArchLayer{a.Layers[0], {Type: model.LayerNorm, Weight: "ln.weight", Bias: "ln.bias"}, {Type: model.GELU}, {Type: model.Tanh}, {Type: model.Sigmoid}, {Type: model.GELU, Approximate: "tanh"}, a.Layers[2], {Type: model.Softmax}}
	a.Layers = layers
	m, err := model.Build(a, ts)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := New(m, "")
	r := rand.New(rand.NewPCG(5, 6))
	for _, rows := range []int{1, 3, 65} {
		x := randInput(r, rows*m.In)
		out := make([]float32, rows*m.Out)
		if err := c.Forward(context.Background(), x, rows, out); err != nil {
			t.Fatal(err)
		}
		if e := model.RelErr(out, m.Reference(x, rows)); e > 1e-5 {
			t.Fatalf("rows %d: relative error %g", rows, e)
		}
	}
}

func TestMLPMatchesReference(t *testing.T) {
	spec := model.MLPSpec{Widths: []int{64, 256, 256, 64}, Seed: 1}
	if !testing.Short() {
		spec = model.ReferenceMLP
	}
	m := model.BuildMLP(spec)
	c, _ := New(m, "")
	r := rand.New(rand.NewPCG(9, 9))
	for _, rows := range []int{1, 7} {
		x := randInput(r, rows*m.In)
		orig := append([]float32(nil), x...)
		out := make([]float32, rows*m.Out)
		for i := range out {
			out[i] = float32(0xdead) // poison: every element must be written
		}
		if err := c.Forward(context.Background(), x, rows, out); err != nil {
			t.Fatal(err)
		}
		if e := model.RelErr(out, m.Reference(x, rows)); e > 1e-5 {
			t.Fatalf("rows %d: relative error %g", rows, e)
		}
		for i := range x {
			if x[i] != orig[i] {
				t.Fatal("forward modified its input")
			}
		}
	}
}

func BenchmarkMLP(b *testing.B) {
	m := model.BuildMLP(model.ReferenceMLP)
	c, _ := New(m, "")
	for _, rows := range []int{1, 256} {
		b.Run(itoa(rows), func(b *testing.B) {
			x := randInput(rand.New(rand.NewPCG(1, 1)), rows*m.In)
			out := make([]float32, rows*m.Out)
			b.ResetTimer()
			t0 := cpuTime()
			for b.Loop() {
				c.Forward(context.Background(), x, rows, out)
			}
			reportCPU(b, t0)
			b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

func itoa(i int) string {
	s := ""
	for {
		s = string(rune('0'+i%10)) + s
		i /= 10
		if i == 0 {
			return "batch" + s
		}
	}
}
