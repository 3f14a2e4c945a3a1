package cpu

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gpuctl/gpuctl/runtime/backend"
	"github.com/gpuctl/gpuctl/runtime/model"
	"gonum.org/v1/gonum/blas/gonum"
)

// BenchmarkReferenceMLPvsGonum is the CPU path against an anchor on a
// machine without PyTorch: the same reference MLP through gonum's plain
// Sgemm (float32, its own goroutines over all cores) and a ReLU loop, in
// the same run. rows/s is reported for both.
func BenchmarkReferenceMLPvsGonum(b *testing.B) {
	m := model.BuildMLP(model.ReferenceMLP)
	c, err := New(m, backend.FP32)
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(4, 4))
	for _, rows := range []int{1, 256} {
		x, out := randInput(r, rows*m.In), make([]float32, rows*m.Out)
		b.Run(fmt.Sprintf("gpuctl/batch=%d", rows), func(b *testing.B) {
			for b.Loop() {
				c.Forward(context.Background(), x, rows, out)
			}
			b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
		})
		b.Run(fmt.Sprintf("gonum-sgemm/batch=%d", rows), func(b *testing.B) {
			var impl gonum.Implementation
			bufs := [2][]float32{make([]float32, rows*4096), make([]float32, rows*4096)}
			for b.Loop() {
				cur := x
				for i, l := range m.Layers {
					switch l.Kind {
					case model.Linear:
						dst := bufs[i%2][:rows*l.Out]
						linear(impl, cur, rows, l, dst)
						cur = dst
					case model.ReLU:
						for j, v := range cur {
							cur[j] = max(v, 0)
						}
					}
				}
			}
			b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
