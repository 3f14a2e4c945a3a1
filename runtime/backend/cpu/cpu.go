// Package cpu runs models with gonum's BLAS. Its Sgemm splits large
// products into blocks over GOMAXPROCS goroutines, so one big batch uses
// every core, and concurrent small batches run side by side.
package cpu

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/gpuctl/gpuctl/runtime/backend"
	"github.com/gpuctl/gpuctl/runtime/model"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// CPU is the gonum backend. It holds no per-request state besides a pool of
// scratch buffers, so Forward is safe for concurrent use.
type CPU struct {
	m       *model.Model
	maxW    int
	scratch sync.Pool
	impl    gonum.Implementation
	packed  []*packedW // per layer; nil where gonum runs the product
	pool    *pool      // threads for the packed products
}

// New prepares m for the CPU. Only fp32 is offered: gonum has no reduced
// precision products, and the narrower modes exist for tensor cores.
func New(m *model.Model, p backend.Precision) (*CPU, error) {
	if p != "" && p != backend.FP32 {
		return nil, fmt.Errorf("cpu backend: precision %s is not supported, only fp32", p)
	}
	c := &CPU{m: m, maxW: m.In, packed: make([]*packedW, len(m.Layers)), pool: newPool(runtime.GOMAXPROCS(0))}
	for i, l := range m.Layers {
		c.maxW = max(c.maxW, l.Out)
		if l.Kind == model.Linear && useKernel(l.In, l.Out) {
			c.packed[i] = packW(l.W, l.In, l.Out, wide)
		}
	}
	// A backend dropped without Close still ends its workers: they hold
	// the pool, not the backend.
	runtime.AddCleanup(c, func(p *pool) { p.stop() }, c.pool)
	return c, nil
}

func (c *CPU) Device() backend.Device {
	lib := "gonum"
	switch {
	case wide:
		lib = "gonum + AVX-512 kernels"
	case haveKernel:
		lib = "gonum + AVX2/FMA kernels"
	}
	return backend.Device{Kind: "cpu", Name: runtime.GOARCH, Precision: string(backend.FP32), Threads: runtime.GOMAXPROCS(0), Library: lib}
}

func (c *CPU) Close() error {
	c.pool.stop()
	return nil
}

type bufs struct{ a, b, pack []float32 }

// Forward runs the layers, ping-ponging between two scratch buffers.
func (c *CPU) Forward(ctx context.Context, x []float32, rows int, out []float32) error {
	m := c.m
	if len(x) != rows*m.In || len(out) != rows*m.Out {
		return fmt.Errorf("cpu forward: %d inputs and %d outputs for %d rows of %d→%d", len(x), len(out), rows, m.In, m.Out)
	}
	if rows == 0 {
		return nil
	}
	need := rows * c.maxW
	bp, _ := c.scratch.Get().(*bufs)
	if bp == nil || cap(bp.a) < need {
		bp = &bufs{a: make([]float32, need), b: make([]float32, need)}
	}
	defer c.scratch.Put(bp)
	cur := x
	width := m.In
	dst := bp.a[:0]
	for i := 0; i < len(m.Layers); i++ {
		l := m.Layers[i]
		if err := ctx.Err(); err != nil {
			return err
		}
		switch l.Kind {
		case model.Linear:
			pw := c.packed[i]
			// The packed path applies bias and a following ReLU to each
			// tile of the product as it completes.
			relu := pw != nil && i+1 < len(m.Layers) && m.Layers[i+1].Kind == model.ReLU
			last := i == len(m.Layers)-1 || (relu && i+1 == len(m.Layers)-1)
			if last {
				dst = out
			} else if &cur[0] == &bp.a[0] {
				dst = bp.b[:rows*l.Out]
			} else {
				dst = bp.a[:rows*l.Out]
			}
			if pw != nil {
				if rows >= mr {
					bp.pack = packA(c.pool, bp.pack, cur, rows, l.In)
				}
				gemmPacked(c.pool, pw, cur, bp.pack, rows, dst, epilogue{bias: l.B, relu: relu})
				if relu {
					i++
				}
			} else {
				linear(c.impl, cur, rows, l, dst)
			}
			cur, width = dst, l.Out
		default:
			if i == len(m.Layers)-1 {
				copy(out, cur)
				cur = out
			} else if &cur[0] == &x[0] {
				// Never write into the caller's input.
				copy(bp.a[:len(cur)], cur)
				cur = bp.a[:len(cur)]
			}
			elementwise(l, cur, rows, width)
		}
	}
	return nil
}

// linear computes dst = cur·Wᵀ + b with Sgemm; W is [out][in] as PyTorch
// stores it, so the product is NoTrans × Trans.
func linear(impl gonum.Implementation, cur []float32, rows int, l model.Layer, dst []float32) {
	beta := float32(0)
	if l.B != nil {
		for r := 0; r < rows; r++ {
			copy(dst[r*l.Out:(r+1)*l.Out], l.B)
		}
		beta = 1
	}
	impl.Sgemm(blas.NoTrans, blas.Trans, rows, l.Out, l.In, 1, cur, l.In, l.W, l.In, beta, dst, l.Out)
}

func elementwise(l model.Layer, v []float32, rows, width int) {
	switch l.Kind {
	case model.ReLU:
		for i, x := range v {
			if x < 0 {
				v[i] = 0
			}
		}
	case model.GELU:
		for i, x := range v {
			f := float64(x)
			if l.Approx {
				v[i] = float32(0.5 * f * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(f+0.044715*f*f*f))))
			} else {
				v[i] = float32(0.5 * f * (1 + math.Erf(f/math.Sqrt2)))
			}
		}
	case model.Sigmoid:
		for i, x := range v {
			v[i] = float32(1 / (1 + math.Exp(-float64(x))))
		}
	case model.Tanh:
		for i, x := range v {
			v[i] = float32(math.Tanh(float64(x)))
		}
	case model.Softmax:
		for r := 0; r < rows; r++ {
			row := v[r*width : (r+1)*width]
			mx := float32(math.Inf(-1))
			for _, x := range row {
				mx = max(mx, x)
			}
			var s float64
			for i, x := range row {
				e := math.Exp(float64(x - mx))
				row[i] = float32(e)
				s += e
			}
			inv := float32(1 / s)
			for i := range row {
				row[i] *= inv
			}
		}
	case model.LayerNorm:
		for r := 0; r < rows; r++ {
			row := v[r*width : (r+1)*width]
			var mean, vr float64
			for _, x := range row {
				mean += float64(x)
			}
			mean /= float64(width)
			for _, x := range row {
				d := float64(x) - mean
				vr += d * d
			}
			vr /= float64(width)
			inv := 1 / math.Sqrt(vr+float64(l.Eps))
			for i, x := range row {
				y := float32((float64(x) - mean) * inv)
				if l.W != nil {
					y *= l.W[i]
				}
				if l.B != nil {
					y += l.B[i]
				}
				row[i] = y
			}
		}
	}
}

var _ backend.Backend = (*CPU)(nil)
