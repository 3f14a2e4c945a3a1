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

// Forward runs rows through the copy/compute pipeline (pipeline.go):
// chunks of a large request overlap their copies with each other's
// compute, and concurrent calls overlap with each other (one enqueues
// while another's chunks are on the GPU). Inputs and outputs in
// AllocHost memory are copied by the GPU directly; other memory is
// staged through pinned buffers.
func (c *CUDA) Forward(ctx context.Context, x []float32, rows int, out []float32) error {
	m := c.m
	if len(x) != rows*m.In || len(out) != rows*m.Out {
		return fmt.Errorf("cuda forward: %d inputs and %d outputs for %d rows of %d→%d", len(x), len(out), rows, m.In, m.Out)
	}
	if rows == 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := c.a.drvErr("cuCtxSetCurrent", C.c_p(c.a.cuCtxSetCurrent, c.ctx)); err != nil {
		return err
	}
	err := c.pipeline(ctx, x, rows, out)
	if err != nil && ctx.Err() == nil {
		c.drain(err)
	}
	return err
}

// run enqueues the plan for n rows from in to out (device float32) on the
// compute stream.
func (c *CUDA) run(n int, in, out unsafe.Pointer) error {
	bf := c.prec == backend.BF16
	suffix := "_f32"
	gemmType, compute := C.int(dtF32), C.int(computeF32)
	if bf {
		suffix, gemmType = "_bf16", dtBF16
	}
	if c.prec == backend.TF32 {
		compute = computeF32FastTF32
	}
	cur := in
	if bf {
		total := n * c.m.In
		if err := c.launch("f32_to_bf16", c.grid1(total), 1, 256, in, c.dAct[0], int64(total)); err != nil {
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
				dst = out
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
	if cur == out {
		return nil
	}
	total := n * c.m.Out
	if bf {
		return c.launch("bf16_to_f32", c.grid1(total), 1, 256, cur, out, int64(total))
	}
	return c.a.rtErr("cudaMemcpyAsync(d2d)", C.c_memcpy_async(c.a.memcpyAsync, out, cur, C.size_t(total*4), d2d, c.stream))
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
	s := &c.slots[0]
	if err := c.finish(s); err != nil {
		return err
	}
	for i := 0; i < iters; i++ {
		if err := c.compute(rows, graphKey{0, rows}, s.dIn, s.dOut); err != nil {
			c.drain(err)
			return err
		}
	}
	return c.a.rtErr("cudaStreamSynchronize", C.c_p(c.a.streamSync, c.stream))
}

// Copy directions for Copies.
const (
	CopyIn   = 1 // host to device only
	CopyOut  = 2 // device to host only
	CopyBoth = 3 // both at once, on the two copy streams
)

// Copies times the bound the pipeline works against: iters copies of
// rows rows (In floats in, Out floats out, as a pass moves them) between
// pinned host memory and the GPU, with no compute; benchmarks divide by
// its time to get the PCIe bound in rows per second.
func (c *CUDA) Copies(rows, iters, dir int) error {
	if rows > c.maxRows {
		return fmt.Errorf("copies: %d rows over MaxRows %d", rows, c.maxRows)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	a, s := c.a, &c.slots[0]
	if err := a.drvErr("cuCtxSetCurrent", C.c_p(a.cuCtxSetCurrent, c.ctx)); err != nil {
		return err
	}
	if err := c.finish(s); err != nil {
		return err
	}
	for range iters {
		if dir&CopyIn != 0 {
			if err := a.rtErr("cudaMemcpyAsync(in)", C.c_memcpy_async(a.memcpyAsync, s.dIn, unsafe.Pointer(&s.hIn[0]), C.size_t(rows*c.m.In*4), h2d, c.h2d)); err != nil {
				return err
			}
		}
		if dir&CopyOut != 0 {
			if err := a.rtErr("cudaMemcpyAsync(out)", C.c_memcpy_async(a.memcpyAsync, unsafe.Pointer(&s.hOut[0]), s.dOut, C.size_t(rows*c.m.Out*4), d2h, c.d2h)); err != nil {
				return err
			}
		}
	}
	for _, st := range []unsafe.Pointer{c.h2d, c.d2h} {
		if err := a.rtErr("cudaStreamSynchronize", C.c_p(a.streamSync, st)); err != nil {
			return err
		}
	}
	return nil
}
