package cpu

// The packed product: gonum's float32 kernels use SSE without FMA, a
// fraction of what an AVX2 core does, so linear layers large enough to
// matter run through a 6×16 AVX2+FMA (or 6×32 AVX-512) micro-kernel
// instead. Weights are packed once at load into panels of nr output
// features (k-major, so the kernel reads nr contiguous floats per step);
// the activations are packed per call into blocks of 6 rows.
//
// The product is blocked over k as in GotoBLAS/BLIS: a task owns a few
// panels and walks k in slices of kc, so one panel's slice (32 KiB) stays
// in L1 while every row block passes over it, and the activations' slice
// (rows × kc) stays in L2 across the task's panels. Without the blocking
// each row block streamed the whole panel (up to 512 KiB) from L2 and the
// activations from L3, and a core did a third of what its kernel can.

// mr rows per block; panels are 16 outputs wide for AVX2, 32 for AVX-512.
const (
	mr    = 6
	maxNR = 32
	// kcBytes is the size of one panel's k-slice: two thirds of a 48 KiB
	// L1, leaving room for the activations streaming through.
	kcBytes = 32 << 10
	// serialWork is the product size (multiply-adds) under which the
	// caller does it alone: a parallel section costs a few microseconds.
	serialWork = 1 << 20
)

// packedW is Wᵀ in panels: panel p holds, for every k, W[p*nr+j][k] for j
// in 0..nr-1 (zero past the last output).
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
func packA(pl *pool, dst, x []float32, rows, in int) []float32 {
	blocks := (rows + mr - 1) / mr
	need := blocks * in * mr
	if cap(dst) < need {
		dst = make([]float32, need)
	}
	dst = dst[:need]
	if need < 1<<16 {
		packBlocks(dst, x, rows, in, 0, blocks)
		return dst
	}
	tasks := min(blocks, pl.workers+1)
	per := (blocks + tasks - 1) / tasks
	pl.do((blocks+per-1)/per, func(t int) { packBlocks(dst, x, rows, in, t*per, min((t+1)*per, blocks)) })
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

// epilogue is what a product's tile gets once its sum is complete: the
// bias and a following ReLU, applied while the tile is still in cache
// instead of in a second pass over the output.
type epilogue struct {
	bias []float32
	relu bool
}

// apply finishes columns c0..c1 of rows r0..r1 of dst (width out).
func (e epilogue) apply(dst []float32, out, r0, r1, c0, c1 int) {
	if e.bias == nil && !e.relu {
		return
	}
	for r := r0; r < r1; r++ {
		row := dst[r*out+c0 : r*out+c1]
		if e.bias != nil {
			for j, v := range e.bias[c0:c1] {
				row[j] += v
			}
		}
		if e.relu {
			for j, v := range row {
				row[j] = max(v, 0)
			}
		}
	}
}

// gemmPacked computes dst[rows][out] = x·Wᵀ, then the epilogue, with the
// kernels: 6-row blocks from apack, or, under 6 rows, one row at a time
// from x. Tasks are groups of panels, four per thread so that uneven
// progress evens out.
func gemmPacked(pl *pool, pw *packedW, x, apack []float32, rows int, dst []float32, ep epilogue) {
	group := 1
	if threads := pl.workers + 1; pw.panels > 4*threads {
		group = pw.panels / (4 * threads)
	}
	tasks := (pw.panels + group - 1) / group
	task := func(t int) {
		p0, p1 := t*group, min((t+1)*group, pw.panels)
		if rows < mr {
			gemmRows(pw, x, rows, dst, p0, p1)
		} else {
			gemmBlocks(pw, apack, rows, dst, p0, p1)
		}
		ep.apply(dst, pw.out, 0, rows, p0*pw.nr, min(p1*pw.nr, pw.out))
	}
	if rows*pw.in*pw.out < serialWork {
		for t := 0; t < tasks; t++ {
			task(t)
		}
		return
	}
	pl.do(tasks, task)
}

// gemmRows: panels p0..p1 for each of rows (< 6) unpacked rows; the panel
// is read from memory once and from cache for the other rows.
func gemmRows(pw *packedW, x []float32, rows int, dst []float32, p0, p1 int) {
	in, out, nr := pw.in, pw.out, pw.nr
	k1 := kern1x16
	if nr == 32 {
		k1 = kern1x32
	}
	var tile [maxNR]float32
	for p := p0; p < p1; p++ {
		bp := pw.data[p*in*nr : (p+1)*in*nr]
		for r := 0; r < rows; r++ {
			if (p+1)*nr <= out {
				k1(in, &x[r*in], &bp[0], &dst[r*out+p*nr])
				continue
			}
			k1(in, &x[r*in], &bp[0], &tile[0])
			copy(dst[r*out+p*nr:(r+1)*out], tile[:out-p*nr])
		}
	}
}

// gemmBlocks: panels p0..p1 for every 6-row block of apack, k in slices
// of kc: the panel slice stays in L1 across the row blocks, the
// activations' slice in L2 across the panels.
func gemmBlocks(pw *packedW, apack []float32, rows int, dst []float32, p0, p1 int) {
	in, out, nr := pw.in, pw.out, pw.nr
	k6 := kern6x16
	if nr == 32 {
		k6 = kern6x32
	}
	kc := kcBytes / (4 * nr)
	blocks := (rows + mr - 1) / mr
	var tile [mr * maxNR]float32
	for k0 := 0; k0 < in; k0 += kc {
		kn, acc := min(kc, in-k0), k0 > 0
		for p := p0; p < p1; p++ {
			bp := pw.data[p*in*nr+k0*nr:]
			cols := min(nr, out-p*nr)
			for b := 0; b < blocks; b++ {
				ap := apack[b*in*mr+k0*mr:]
				c := dst[b*mr*out+p*nr:]
				n := min(mr, rows-b*mr)
				if cols == nr && n == mr {
					k6(kn, &ap[0], &bp[0], &c[0], out, acc)
					continue
				}
				// An edge tile goes through a full-size scratch tile.
				for r := 0; r < n && acc; r++ {
					copy(tile[r*nr:r*nr+cols], c[r*out:r*out+cols])
				}
				k6(kn, &ap[0], &bp[0], &tile[0], nr, acc)
				for r := 0; r < n; r++ {
					copy(c[r*out:r*out+cols], tile[r*nr:r*nr+cols])
				}
			}
		}
	}
}
