package cpu

import (
	"runtime"
	"sync"
)

// The packed product: gonum's float32 kernels use SSE without FMA, a
// fraction of what an AVX2 core does, so linear layers large enough to
// matter run through a 6×16 AVX2+FMA micro-kernel instead. Weights are
// packed once at load into panels of 16 output features (k-major, so the
// kernel reads 16 contiguous floats per step); the activations are packed
// per call into blocks of 6 rows. Panels are spread over GOMAXPROCS
// goroutines; each walks its panels' row blocks while the panel is hot in
// cache.

// mr rows per block; panels are 16 outputs wide for AVX2, 32 for AVX-512.
const (
	mr    = 6
	maxNR = 32
)

// packedW is Wᵀ in panels: panel p holds, for every k, W[p*16+j][k] for j
// in 0..15 (zero past the last output).
type packedW struct {
	in, out, panels, nr int
	data                []float32
}

func packW(w []float32, in, out int, wide bool) *packedW {
	nr := 16
	if wide {
		nr = 32
	}
	p := &packedW{in: in, out: out, nr: nr, panels: (out + nr - 1) / nr}
	p.data = make([]float32, p.panels*in*nr)
	for o := 0; o < out; o++ {
		panel, j := o/nr, o%nr
		base := panel * in * nr
		row := w[o*in : (o+1)*in]
		for k, v := range row {
			p.data[base+k*nr+j] = v
		}
	}
	return p
}

// useKernel decides per layer: tiny products (the seed's 10→1) cost more
// to pack than to compute.
func useKernel(in, out int) bool {
	return haveKernel && in*out >= 1<<14
}

// packA lays rows×in activations out as blocks of 6 rows, k-major, zero
// padded to a multiple of 6 rows.
func packA(dst, x []float32, rows, in int) []float32 {
	blocks := (rows + mr - 1) / mr
	need := blocks * in * mr
	if cap(dst) < need {
		dst = make([]float32, need)
	}
	dst = dst[:need]
	parallelRows(blocks, in*mr, func(b0, b1 int) { packBlocks(dst, x, rows, in, b0, b1) })
	return dst
}

func packBlocks(dst, x []float32, rows, in, b0, b1 int) {
	for b := b0; b < b1; b++ {
		blk := dst[b*in*mr : (b+1)*in*mr]
		for r := 0; r < mr; r++ {
			row := b*mr + r
			if row >= rows {
				for k := 0; k < in; k++ {
					blk[k*mr+r] = 0
				}
				continue
			}
			src := x[row*in : (row+1)*in]
			for k, v := range src {
				blk[k*mr+r] = v
			}
		}
	}
}

// parallelRows splits n rows of width w over GOMAXPROCS goroutines, or
// runs fn(0, n) alone when the pass is too small to share.
func parallelRows(n, w int, fn func(r0, r1 int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 || n*w < 1<<16 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	per := (n + workers - 1) / workers
	for r0 := 0; r0 < n; r0 += per {
		wg.Add(1)
		go func(r0, r1 int) {
			defer wg.Done()
			fn(r0, r1)
		}(r0, min(r0+per, n))
	}
	wg.Wait()
}

// gemmPacked computes dst[rows][out] = x·Wᵀ (no bias) with the kernels:
// 6-row blocks from apack, or, under 6 rows, one row at a time from x.
func gemmPacked(pw *packedW, x, apack []float32, rows int, dst []float32) {
	blocks := (rows + mr - 1) / mr
	in, out, nr := pw.in, pw.out, pw.nr
	k6, k1 := kern6x16, kern1x16
	if nr == 32 {
		k6, k1 = kern6x32, kern1x32
	}
	work := func(p0, p1 int) {
		var tile [mr * maxNR]float32
		for p := p0; p < p1; p++ {
			bp := pw.data[p*in*nr : (p+1)*in*nr]
			full := (p+1)*nr <= out
			if rows < mr {
				for r := 0; r < rows; r++ {
					if full {
						k1(in, &x[r*in], &bp[0], &dst[r*out+p*nr])
						continue
					}
					k1(in, &x[r*in], &bp[0], &tile[0])
					copy(dst[r*out+p*nr:(r+1)*out], tile[:out-p*nr])
				}
				continue
			}
			for b := 0; b < blocks; b++ {
				ap := apack[b*in*mr : (b+1)*in*mr]
				if full && (b+1)*mr <= rows {
					k6(in, &ap[0], &bp[0], &dst[b*mr*out+p*nr], out)
					continue
				}
				k6(in, &ap[0], &bp[0], &tile[0], nr)
				for r := 0; r < mr && b*mr+r < rows; r++ {
					for j := 0; j < nr && p*nr+j < out; j++ {
						dst[(b*mr+r)*out+p*nr+j] = tile[r*nr+j]
					}
				}
			}
		}
	}
	workers := min(runtime.GOMAXPROCS(0), pw.panels)
	// Below about a million multiply-adds a goroutine costs more than it saves.
	if workers <= 1 || rows*in*out < 1<<20 {
		work(0, pw.panels)
		return
	}
	var wg sync.WaitGroup
	per := (pw.panels + workers - 1) / workers
	for p0 := 0; p0 < pw.panels; p0 += per {
		wg.Add(1)
		go func(p0, p1 int) {
			defer wg.Done()
			work(p0, p1)
		}(p0, min(p0+per, pw.panels))
	}
	wg.Wait()
}
