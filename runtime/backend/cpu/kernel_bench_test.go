package cpu

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
)

// BenchmarkKernelL1 times the micro-kernels on operands that stay in L1,
// the ceiling a blocked product can approach; GFLOP/s is per core.
func BenchmarkKernelL1(b *testing.B) {
	if !haveKernel {
		b.Skip("no micro-kernel on this CPU")
	}
	const k = 256
	r := rand.New(rand.NewPCG(1, 2))
	a, w := randInput(r, 16*k), randInput(r, 32*k)
	c := make([]float32, 16*32)
	for _, kc := range []struct {
		name     string
		m, n     int
		run      func()
		disabled bool
	}{
		{"6x16", 6, 16, func() { kern6x16(k, &a[0], &w[0], &c[0], 16, true) }, false},
		{"6x32", 6, 32, func() { kern6x32(k, &a[0], &w[0], &c[0], 32, true) }, !wide},
	} {
		if kc.disabled {
			continue
		}
		b.Run(kc.name, func(b *testing.B) {
			t0 := cpuTime()
			for b.Loop() {
				kc.run()
			}
			reportCPU(b, t0)
			b.ReportMetric(float64(2*kc.m*kc.n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkLayer times one linear layer of the reference MLP's shape on
// all cores, product only.
func BenchmarkLayer(b *testing.B) {
	if !haveKernel {
		b.Skip("no micro-kernel on this CPU")
	}
	r := rand.New(rand.NewPCG(1, 2))
	const in, out = 4096, 4096
	w := randInput(r, in*out)
	pw := packW(w, in, out, wide)
	pl := newPool(runtime.GOMAXPROCS(0))
	defer pl.stop()
	for _, rows := range []int{1, 64, 256} {
		x := randInput(r, rows*in)
		dst := make([]float32, rows*out)
		var ap []float32
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			t0 := cpuTime()
			for b.Loop() {
				if rows >= mr {
					ap = packA(pl, ap, x, rows, in)
				}
				gemmPacked(pl, pw, x, ap, rows, dst, epilogue{})
			}
			reportCPU(b, t0)
			b.ReportMetric(float64(2*rows*in*out)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
