//go:build cgo && linux

package cuda

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"context"
	"fmt"
	"runtime"
	"unsafe"

	"github.com/gpuctl/gpuctl/runtime/backend"
	"github.com/gpuctl/gpuctl/runtime/model"
)

// launch passes each argument through C memory: cuLaunchKernel reads the
// values at launch, so one buffer serves every launch under the mutex.
func (c *CUDA) launch(kernel string, gx, gy, bx int, args ...any) error {
	vals := unsafe.Slice((*uint64)(c.args), 8)
	ptrs := unsafe.Slice((*unsafe.Pointer)(unsafe.Add(c.args, 8*8)), 8)
	for i, a := range args {
		slot := unsafe.Pointer(&vals[i])
		switch v := a.(type) {
		case unsafe.Pointer:
			*(*unsafe.Pointer)(slot) = v
		case int32:
			*(*int32)(slot) = v
		case int:
			*(*int32)(slot) = int32(v)
		case int64:
			*(*int64)(slot) = v
		case float32:
			*(*float32)(slot) = v
		default:
			return fmt.Errorf("launch %s: argument %d has unsupported type %T", kernel, i, a)
		}
		ptrs[i] = slot
	}
	code := C.c_cu_launch(c.a.cuLaunch, c.k[kernel], C.uint(gx), C.uint(gy), C.uint(bx), c.stream, (*unsafe.Pointer)(unsafe.Pointer(&ptrs[0])))
	return c.a.drvErr("cuLaunchKernel "+kernel, code)
}

// Forward copies the rows in, runs the plan and copies the answer out, in
// chunks of at most MaxRows. One pass runs at a time; the dynamic batcher
// is what turns concurrency into larger passes.
func (c *CUDA) Forward(ctx context.Context, x []float32, rows int, out []float32) error {
	m := c.m
	if len(x) != rows*m.In || len(out) != rows*m.Out {
		return fmt.Errorf("cuda forward: %d inputs and %d outputs for %d rows of %d→%d", len(x), len(out), rows, m.In, m.Out)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := c.a.drvErr("cuCtxSetCurrent", C.c_p(c.a.cuCtxSetCurrent, c.ctx)); err != nil {
		return err
	}
	for r0 := 0; r0 < rows; r0 += c.maxRows {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(c.maxRows, rows-r0)
		copy(c.hIn, x[r0*m.In:(r0+n)*m.In])
		if err := c.a.rtErr("cudaMemcpyAsync(in)", C.c_memcpy_async(c.a.memcpyAsync, c.dIn, unsafe.Pointer(&c.hIn[0]), C.size_t(n*m.In*4), h2d, c.stream)); err != nil {
			return err
		}
		if err := c.run(n); err != nil {
			return err
		}
		if err := c.a.rtErr("cudaMemcpyAsync(out)", C.c_memcpy_async(c.a.memcpyAsync, unsafe.Pointer(&c.hOut[0]), c.dOut, C.size_t(n*m.Out*4), d2h, c.stream)); err != nil {
			return err
		}
		if err := c.a.rtErr("cudaStreamSynchronize", C.c_p(c.a.streamSync, c.stream)); err != nil {
			return err
		}
		copy(out[r0*m.Out:(r0+n)*m.Out], c.hOut[:n*m.Out])
	}
	return nil
}

// run enqueues the plan for n rows from dIn to dOut on the stream.
func (c *CUDA) run(n int) error {
	bf := c.prec == backend.BF16
	suffix := "_f32"
	gemmType, compute := C.int(dtF32), C.int(computeF32)
	if bf {
		suffix, gemmType = "_bf16", dtBF16
	}
	if c.prec == backend.TF32 {
		compute = computeF32FastTF32
	}
	cur := c.dIn
	if bf {
		total := n * c.m.In
		if err := c.launch("f32_to_bf16", c.grid1(total), 1, 256, c.dIn, c.dAct[0], int64(total)); err != nil {
			return err
		}
		cur = c.dAct[0]
	}
	width := c.m.In
	alpha, beta := C.float(1), C.float(0)
	for i, o := range c.ops {
		switch o.kind {
		case model.Linear:
			dst := c.dAct[0]
			if cur == c.dAct[0] {
				dst = c.dAct[1]
			}
			if i == len(c.ops)-1 && !bf {
				dst = c.dOut
			}
			if o.desc != nil {
				p, err := c.ltPlan(&c.ops[i], n, gemmType)
				if err != nil {
					return err
				}
				if p.ok {
					code := C.c_lt_matmul(c.a.ltMatmul, c.lt, o.desc, &alpha, o.w, o.aLayout, cur, p.b, &beta, dst, p.d, dst, p.d, p.algo, c.ws, workspaceBytes, c.stream)
					if err := blasErr(fmt.Sprintf("cublasLtMatmul layer %d (%d×%d·%d)", i, n, o.in, o.out), code); err != nil {
						return err
					}
					if !o.fused && o.act != 0 {
						if err := c.launch("bias_act"+suffix, (o.out+1023)/1024, min(n, 65535), 256, dst, unsafe.Pointer(nil), int32(n), int32(o.out), o.act); err != nil {
							return err
						}
					}
					cur, width = dst, o.out
					continue
				}
			}
			code := C.c_blas_gemm_ex(c.a.gemmEx, c.blas, opT, opN, C.int(o.out), C.int(n), C.int(o.in), &alpha,
				o.w, gemmType, C.int(o.in), cur, gemmType, C.int(o.in), &beta, dst, gemmType, C.int(o.out), compute)
			if err := blasErr(fmt.Sprintf("cublasGemmEx layer %d (%d×%d·%d)", i, n, o.in, o.out), code); err != nil {
				return err
			}
			if o.b != nil || o.act != 0 {
				if err := c.launch("bias_act"+suffix, (o.out+1023)/1024, min(n, 65535), 256, dst, o.b, int32(n), int32(o.out), o.act); err != nil {
					return err
				}
			}
			cur, width = dst, o.out
		case model.ReLU, model.GELU, model.Sigmoid, model.Tanh:
			if err := c.launch("bias_act"+suffix, (width+1023)/1024, min(n, 65535), 256, cur, unsafe.Pointer(nil), int32(n), int32(width), o.act); err != nil {
				return err
			}
		case model.Softmax:
			if err := c.launch("softmax"+suffix, min(n, 65535), 1, 256, cur, int32(n), int32(width)); err != nil {
				return err
			}
		case model.LayerNorm:
			if err := c.launch("layernorm"+suffix, min(n, 65535), 1, 256, cur, o.g, o.beta, int32(n), int32(width), o.eps); err != nil {
				return err
			}
		}
	}
	if cur == c.dOut {
		return nil
	}
	total := n * c.m.Out
	if bf {
		return c.launch("bf16_to_f32", c.grid1(total), 1, 256, cur, c.dOut, int64(total))
	}
	return c.a.rtErr("cudaMemcpyAsync(d2d)", C.c_memcpy_async(c.a.memcpyAsync, c.dOut, cur, C.size_t(total*4), d2d, c.stream))
}

func (c *CUDA) grid1(total int) int {
	return max(1, min((total+255)/256, c.sms*32))
}

// Resident enqueues iters passes of rows rows on data already on the GPU
// and waits once, as a PyTorch eager loop timed with one synchronize
// does; benchmarks use it to compare compute alone.
func (c *CUDA) Resident(rows, iters int) error {
	if rows > c.maxRows {
		return fmt.Errorf("resident run: %d rows over MaxRows %d", rows, c.maxRows)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := c.a.drvErr("cuCtxSetCurrent", C.c_p(c.a.cuCtxSetCurrent, c.ctx)); err != nil {
		return err
	}
	for i := 0; i < iters; i++ {
		if err := c.run(rows); err != nil {
			return err
		}
	}
	return c.a.rtErr("cudaStreamSynchronize", C.c_p(c.a.streamSync, c.stream))
}
