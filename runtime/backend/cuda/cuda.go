//go:build cgo && linux

// Package cuda runs models on an NVIDIA GPU through cuBLAS, with the CUDA
// libraries opened at run time (dlopen), so the same binary starts on a
// machine with no CUDA and falls back to the CPU there. Weights stay
// resident on the GPU; element-wise kernels are compiled at start by NVRTC.
package cuda

/*
#include <stdlib.h>
#include <stddef.h>
int c_i(void*, int);
int c_pi(void*, int*);
int c_ppsz(void*, void**, size_t);
int c_p(void*, void*);
int c_memcpy_async(void*, void*, const void*, size_t, int, void*);
int c_stream_create(void*, void**, unsigned int);
int c_attr(void*, int*, int, int);
int c_meminfo(void*, size_t*, size_t*);
int c_cu_device_get(void*, int*, int);
int c_cu_primary_retain(void*, void**, int);
int c_cu_module_load_data(void*, void**, const void*);
int c_cu_module_get_function(void*, void**, void*, const char*);
int c_cu_launch(void*, void*, unsigned, unsigned, unsigned, void*, void**);
int c_blas_create(void*, void**);
int c_blas_set_stream(void*, void*, void*);
int c_blas_gemm_ex(void*, void*, int, int, int, int, int, const float*, const void*, int, int, const void*, int, int, const float*, void*, int, int, int);
int c_blas_set_ws(void*, void*, void*, size_t);
int c_lt_desc_create(void*, void**, int, int);
int c_lt_set_attr(void*, void*, int, const void*, size_t);
int c_lt_layout_create(void*, void**, int, unsigned long long, unsigned long long, long long);
int c_lt_heuristic(void*, void*, void*, void*, void*, void*, void*, void*, void*, int*);
int c_lt_matmul(void*, void*, void*, const float*, const void*, void*, const void*, void*, const float*, void*, void*, void*, void*, const void*, void*, size_t, void*);
int c_nvrtc_create(void*, void**, const char*, const char*);
int c_nvrtc_compile(void*, void*, int, const char* const*);
int c_nvrtc_size(void*, void*, size_t*);
int c_nvrtc_get(void*, void*, char*);
int c_nvrtc_destroy(void*, void**);
*/
import "C"

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"unsafe"

	"github.com/gpuctl/gpuctl/runtime/backend"
	"github.com/gpuctl/gpuctl/runtime/model"
)

// Values from the CUDA headers (cudaDataType, cublasComputeType_t, ...).
const (
	opN, opT           = 0, 1
	dtF32, dtBF16      = 0, 14
	computeF32         = 68
	computeF32FastTF32 = 77
	h2d, d2h, d2d      = 1, 2, 3
	attrSMCount        = 16
	attrCCMajor        = 75
	attrCCMinor        = 76
	streamNonBlocking  = 1

	// cuBLASLt (cublasLt.h)
	ltTransA, ltTransB, ltEpilogue, ltBiasPointer = 3, 4, 7, 8
	epiDefault, epiRelu, epiBias, epiReluBias     = 1, 2, 4, 6
	prefMaxWorkspace                              = 1
	workspaceBytes                                = 32 << 20 // what NVIDIA advises for Hopper
)

// Activation codes shared with kernelSource's act().
var actCode = map[model.Kind]int32{model.ReLU: 1, model.Sigmoid: 4, model.Tanh: 5}

func gelu(l model.Layer) int32 {
	if l.Approx {
		return 3
	}
	return 2
}

// Options choose the GPU and the most rows one pass takes; larger
// requests are split.
type Options struct {
	Ordinal int
	MaxRows int
	// NoLt turns off cuBLASLt (fused bias and ReLU in the product) and
	// uses cublasGemmEx plus a bias/activation kernel, for comparison.
	NoLt bool
}

// op is one step of the plan: a product with its fused bias and
// activation, a stand-alone activation, or a row-wise kernel.
type op struct {
	kind    model.Kind
	in, out int
	w, b    unsafe.Pointer // linear weight (precision's type) and bias
	g, beta unsafe.Pointer // layernorm, float32
	act     int32
	eps     float32
	// cuBLASLt: the product's descriptor and the weight's layout; fused
	// says the epilogue applies the activation too.
	desc, aLayout unsafe.Pointer
	fused         bool
	plans         map[int]*ltPlan // by rows
}

// ltPlan is a product's layouts and chosen algorithm for one row count.
type ltPlan struct {
	b, d unsafe.Pointer
	algo unsafe.Pointer // C memory: the heuristic result, algo first
	ok   bool
}

// CUDA is the GPU backend.
type CUDA struct {
	a       *api
	mu      sync.Mutex
	ctx     unsafe.Pointer
	stream  unsafe.Pointer
	blas    unsafe.Pointer
	k       map[string]unsafe.Pointer
	m       *model.Model
	prec    backend.Precision
	ops     []op
	maxRows int
	maxW    int
	dIn     unsafe.Pointer // float32 [maxRows][In]
	dOut    unsafe.Pointer // float32 [maxRows][Out]
	dAct    [2]unsafe.Pointer
	hIn     []float32 // pinned
	hOut    []float32 // pinned
	args    unsafe.Pointer
	allocs  []unsafe.Pointer
	lt      unsafe.Pointer
	pref    unsafe.Pointer
	ws      unsafe.Pointer
	cmem    []unsafe.Pointer // C allocations to free
	// Which path each (layer, rows) product took, and why cuBLASLt was
	// refused the first time it was, for logs and benchmarks.
	ltOK, ltRefused int
	ltWhy           string
	dev             backend.Device
	sms             int
}

func (c *CUDA) elem() int {
	if c.prec == backend.BF16 {
		return 2
	}
	return 4
}

// New loads the libraries, compiles the kernels and uploads the weights.
func New(m *model.Model, prec backend.Precision, o Options) (_ *CUDA, err error) {
	if prec == "" {
		prec = backend.FP32
	}
	if o.MaxRows <= 0 {
		o.MaxRows = 4096
	}
	a, err := loadAPI()
	if err != nil {
		return nil, err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	c := &CUDA{a: a, m: m, prec: prec, maxRows: o.MaxRows, k: map[string]unsafe.Pointer{}, maxW: m.In}
	for _, l := range m.Layers {
		c.maxW = max(c.maxW, l.Out)
	}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	if err := a.rtErr("cudaSetDevice", C.c_i(a.setDevice, C.int(o.Ordinal))); err != nil {
		return nil, err
	}
	// cudaFree(NULL) creates the primary context, which the driver API
	// calls below then share with the runtime.
	if err := a.rtErr("cudaFree(0)", C.c_p(a.free, nil)); err != nil {
		return nil, err
	}
	if err := a.drvErr("cuInit", C.c_i(a.cuInit, 0)); err != nil {
		return nil, err
	}
	var dev C.int
	if err := a.drvErr("cuDeviceGet", C.c_cu_device_get(a.cuDeviceGet, &dev, C.int(o.Ordinal))); err != nil {
		return nil, err
	}
	if err := a.drvErr("cuDevicePrimaryCtxRetain", C.c_cu_primary_retain(a.cuPrimaryRetain, &c.ctx, dev)); err != nil {
		return nil, err
	}
	if err := a.drvErr("cuCtxSetCurrent", C.c_p(a.cuCtxSetCurrent, c.ctx)); err != nil {
		return nil, err
	}
	var major, minor, sms, rtv C.int
	C.c_attr(a.getAttr, &major, attrCCMajor, C.int(o.Ordinal))
	C.c_attr(a.getAttr, &minor, attrCCMinor, C.int(o.Ordinal))
	C.c_attr(a.getAttr, &sms, attrSMCount, C.int(o.Ordinal))
	C.c_pi(a.runtimeVersion, &rtv)
	c.sms = int(sms)
	if prec == backend.BF16 && major < 8 {
		return nil, fmt.Errorf("cuda: bf16 needs compute capability 8.0 or newer, GPU has %d.%d", major, minor)
	}
	if prec == backend.TF32 && major < 8 {
		return nil, fmt.Errorf("cuda: tf32 needs compute capability 8.0 or newer, GPU has %d.%d", major, minor)
	}
	var free, total C.size_t
	C.c_meminfo(a.memInfo, &free, &total)
	c.dev = backend.Device{Kind: "cuda", Precision: string(prec), MemoryTotal: uint64(total),
		CUDA:    fmt.Sprintf("runtime %d.%d, sm_%d%d", rtv/1000, (rtv%1000)/10, major, minor),
		Library: a.blas.name}
	if err := c.compile(int(major), int(minor)); err != nil {
		return nil, err
	}
	if err := a.rtErr("cudaStreamCreateWithFlags", C.c_stream_create(a.streamCreate, &c.stream, streamNonBlocking)); err != nil {
		return nil, err
	}
	if err := blasErr("cublasCreate", C.c_blas_create(a.blasCreate, &c.blas)); err != nil {
		return nil, err
	}
	if err := blasErr("cublasSetStream", C.c_blas_set_stream(a.blasSetStream, c.blas, c.stream)); err != nil {
		return nil, err
	}
	c.args = C.malloc(16 * 16)
	if c.ws, err = c.alloc(workspaceBytes); err != nil {
		return nil, err
	}
	if err := blasErr("cublasSetWorkspace", C.c_blas_set_ws(a.blasSetWorkspace, c.blas, c.ws, workspaceBytes)); err != nil {
		return nil, err
	}
	if !o.NoLt {
		if err := c.initLt(); err != nil {
			return nil, err
		}
	}
	if err := c.upload(); err != nil {
		return nil, err
	}
	if c.dIn, err = c.alloc(c.maxRows * m.In * 4); err != nil {
		return nil, err
	}
	if c.dOut, err = c.alloc(c.maxRows * m.Out * 4); err != nil {
		return nil, err
	}
	for i := range c.dAct {
		if c.dAct[i], err = c.alloc(c.maxRows * c.maxW * c.elem()); err != nil {
			return nil, err
		}
	}
	var hin, hout unsafe.Pointer
	if err := a.rtErr("cudaMallocHost", C.c_ppsz(a.mallocHost, &hin, C.size_t(c.maxRows*m.In*4))); err != nil {
		return nil, err
	}
	c.hIn = unsafe.Slice((*float32)(hin), c.maxRows*m.In)
	if err := a.rtErr("cudaMallocHost", C.c_ppsz(a.mallocHost, &hout, C.size_t(c.maxRows*m.Out*4))); err != nil {
		return nil, err
	}
	c.hOut = unsafe.Slice((*float32)(hout), c.maxRows*m.Out)
	return c, nil
}

func (c *CUDA) alloc(n int) (unsafe.Pointer, error) {
	var p unsafe.Pointer
	if err := c.a.rtErr(fmt.Sprintf("cudaMalloc(%d bytes)", n), C.c_ppsz(c.a.malloc, &p, C.size_t(n))); err != nil {
		return nil, err
	}
	c.allocs = append(c.allocs, p)
	return p, nil
}

// put copies host floats to a new device buffer, as bf16 when asked.
func (c *CUDA) put(v []float32, bf16 bool) (unsafe.Pointer, error) {
	var src unsafe.Pointer
	n := len(v) * 4
	if bf16 {
		h := make([]uint16, len(v))
		for i, x := range v {
			h[i] = model.Float32ToBF16(x)
		}
		src, n = unsafe.Pointer(&h[0]), len(v)*2
		defer runtime.KeepAlive(h)
	} else {
		src = unsafe.Pointer(&v[0])
	}
	p, err := c.alloc(n)
	if err != nil {
		return nil, err
	}
	if err := c.a.rtErr("cudaMemcpyAsync(weights)", C.c_memcpy_async(c.a.memcpyAsync, p, src, C.size_t(n), h2d, c.stream)); err != nil {
		return nil, err
	}
	// Synchronise before the host copy of a bf16 weight goes out of scope.
	return p, c.a.rtErr("cudaStreamSynchronize", C.c_p(c.a.streamSync, c.stream))
}

// upload builds the plan, fusing each linear with the activation after it.
func (c *CUDA) upload() error {
	bf := c.prec == backend.BF16
	ls := c.m.Layers
	for i := 0; i < len(ls); i++ {
		l := ls[i]
		o := op{kind: l.Kind, in: l.In, out: l.Out}
		var err error
		switch l.Kind {
		case model.Linear:
			if o.w, err = c.put(l.W, bf); err != nil {
				return err
			}
			if l.B != nil {
				if o.b, err = c.put(l.B, bf); err != nil {
					return err
				}
			}
			if i+1 < len(ls) {
				switch n := ls[i+1]; n.Kind {
				case model.ReLU, model.Sigmoid, model.Tanh:
					o.act = actCode[n.Kind]
					i++
				case model.GELU:
					o.act = gelu(n)
					i++
				}
			}
			if c.lt != nil {
				if err := c.ltDesc(&o); err != nil {
					return err
				}
			}
		case model.ReLU, model.Sigmoid, model.Tanh:
			o.act = actCode[l.Kind]
		case model.GELU:
			o.act = gelu(l)
		case model.LayerNorm:
			o.eps = l.Eps
			if l.W != nil {
				if o.g, err = c.put(l.W, false); err != nil {
					return err
				}
			}
			if l.B != nil {
				if o.beta, err = c.put(l.B, false); err != nil {
					return err
				}
			}
		}
		c.ops = append(c.ops, o)
	}
	return nil
}

// compile builds kernelSource for this GPU's architecture with NVRTC.
func (c *CUDA) compile(major, minor int) error {
	a := c.a
	src := C.CString(kernelSource)
	defer C.free(unsafe.Pointer(src))
	name := C.CString("gpuctl_kernels.cu")
	defer C.free(unsafe.Pointer(name))
	var prog unsafe.Pointer
	if err := a.nvrtcErr("nvrtcCreateProgram", C.c_nvrtc_create(a.nvCreate, &prog, src, name)); err != nil {
		return err
	}
	defer C.c_nvrtc_destroy(a.nvDestroy, &prog)
	opts := []string{fmt.Sprintf("--gpu-architecture=sm_%d%d", major, minor)}
	copts := C.malloc(C.size_t(len(opts)) * C.size_t(unsafe.Sizeof(uintptr(0))))
	defer C.free(copts)
	optv := unsafe.Slice((**C.char)(copts), len(opts))
	for i, o := range opts {
		optv[i] = C.CString(o)
		defer C.free(unsafe.Pointer(optv[i]))
	}
	if code := C.c_nvrtc_compile(a.nvCompile, prog, C.int(len(opts)), (**C.char)(copts)); code != 0 {
		var n C.size_t
		C.c_nvrtc_size(a.nvLogSize, prog, &n)
		log := make([]byte, int(n)+1)
		C.c_nvrtc_get(a.nvLog, prog, (*C.char)(unsafe.Pointer(&log[0])))
		return fmt.Errorf("%w\n%s", a.nvrtcErr("nvrtcCompileProgram", code), string(log))
	}
	var n C.size_t
	if err := a.nvrtcErr("nvrtcGetCUBINSize", C.c_nvrtc_size(a.nvCubinSize, prog, &n)); err != nil {
		return err
	}
	cubin := C.malloc(n)
	defer C.free(cubin)
	if err := a.nvrtcErr("nvrtcGetCUBIN", C.c_nvrtc_get(a.nvCubin, prog, (*C.char)(cubin))); err != nil {
		return err
	}
	var mod unsafe.Pointer
	if err := a.drvErr("cuModuleLoadData", C.c_cu_module_load_data(a.cuModuleLoadData, &mod, cubin)); err != nil {
		return err
	}
	for _, k := range []string{"bias_act_f32", "bias_act_bf16", "f32_to_bf16", "bf16_to_f32", "softmax_f32", "softmax_bf16", "layernorm_f32", "layernorm_bf16"} {
		ck := C.CString(k)
		var f unsafe.Pointer
		code := C.c_cu_module_get_function(a.cuModuleGetFunction, &f, mod, ck)
		C.free(unsafe.Pointer(ck))
		if err := a.drvErr("cuModuleGetFunction "+k, code); err != nil {
			return err
		}
		c.k[k] = f
	}
	return nil
}

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

func (c *CUDA) Device() backend.Device {
	d := c.dev
	return d
}

// SetInfo adds NVML's details (name, driver, UUID) to the device report.
func (c *CUDA) SetInfo(d backend.Device) {
	c.dev.Name, c.dev.Driver, c.dev.UUID = d.Name, d.Driver, d.UUID
	if d.MemoryTotal != 0 {
		c.dev.MemoryTotal = d.MemoryTotal
	}
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

// Close frees device and pinned memory. The process keeps the primary
// context; it ends with the process.
func (c *CUDA) Close() error {
	if c == nil || c.a == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if c.ctx != nil {
		C.c_p(c.a.cuCtxSetCurrent, c.ctx)
	}
	if c.stream != nil {
		C.c_p(c.a.streamSync, c.stream)
	}
	for _, p := range c.allocs {
		C.c_p(c.a.free, p)
	}
	c.allocs = nil
	if c.hIn != nil {
		C.c_p(c.a.freeHost, unsafe.Pointer(&c.hIn[0]))
		c.hIn = nil
	}
	if c.hOut != nil {
		C.c_p(c.a.freeHost, unsafe.Pointer(&c.hOut[0]))
		c.hOut = nil
	}
	if c.blas != nil {
		C.c_p(c.a.blasDestroy, c.blas)
		c.blas = nil
	}
	if c.args != nil {
		C.free(c.args)
		c.args = nil
	}
	for _, p := range c.cmem {
		C.free(p)
	}
	c.cmem = nil
	return nil
}

var _ backend.Backend = (*CUDA)(nil)

// initLt creates the cuBLASLt handle and the preference that lets it use
// the workspace.
func (c *CUDA) initLt() error {
	if err := blasErr("cublasLtCreate", C.c_blas_create(c.a.ltCreate, &c.lt)); err != nil {
		return err
	}
	if err := blasErr("cublasLtMatmulPreferenceCreate", C.c_blas_create(c.a.ltPrefCreate, &c.pref)); err != nil {
		return err
	}
	*(*uint64)(c.args) = workspaceBytes
	return blasErr("cublasLtMatmulPreferenceSetAttribute", C.c_lt_set_attr(c.a.ltPrefSet, c.pref, prefMaxWorkspace, c.args, 8))
}

// ltDesc describes a linear layer's product for cuBLASLt: Wᵀ (as PyTorch
// stores W) times the activations, with bias and ReLU in the epilogue.
func (c *CUDA) ltDesc(o *op) error {
	a := c.a
	compute, dt := C.int(computeF32), C.int(dtF32)
	if c.prec == backend.TF32 {
		compute = computeF32FastTF32
	}
	if c.prec == backend.BF16 {
		dt = dtBF16
	}
	if err := blasErr("cublasLtMatmulDescCreate", C.c_lt_desc_create(a.ltDescCreate, &o.desc, compute, dtF32)); err != nil {
		return err
	}
	set := func(attr C.int, v int32) error {
		*(*int32)(c.args) = v
		return blasErr("cublasLtMatmulDescSetAttribute", C.c_lt_set_attr(a.ltDescSet, o.desc, attr, c.args, 4))
	}
	epi := int32(epiDefault)
	switch {
	case o.act == 1 && o.b != nil:
		epi, o.fused = epiReluBias, true
	case o.act == 1:
		epi, o.fused = epiRelu, true
	case o.b != nil:
		epi, o.fused = epiBias, o.act == 0
	default:
		o.fused = o.act == 0
	}
	if err := set(ltTransA, opT); err != nil {
		return err
	}
	if err := set(ltTransB, opN); err != nil {
		return err
	}
	if err := set(ltEpilogue, epi); err != nil {
		return err
	}
	if o.b != nil {
		*(*unsafe.Pointer)(c.args) = o.b
		if err := blasErr("cublasLtMatmulDescSetAttribute(bias)", C.c_lt_set_attr(a.ltDescSet, o.desc, ltBiasPointer, c.args, 8)); err != nil {
			return err
		}
	}
	o.plans = map[int]*ltPlan{}
	return blasErr("cublasLtMatrixLayoutCreate(W)", C.c_lt_layout_create(a.ltLayoutCreate, &o.aLayout, dt, C.ulonglong(o.in), C.ulonglong(o.out), C.longlong(o.in)))
}

// ltPlan returns the layouts and algorithm for n rows, asking cuBLASLt's
// heuristic once per row count. When it offers nothing, the plan is
// marked not ok and the product falls back to cublasGemmEx.
func (c *CUDA) ltPlan(o *op, n int, dt C.int) (*ltPlan, error) {
	if p := o.plans[n]; p != nil {
		return p, nil
	}
	a := c.a
	p := &ltPlan{}
	if err := blasErr("cublasLtMatrixLayoutCreate(X)", C.c_lt_layout_create(a.ltLayoutCreate, &p.b, dt, C.ulonglong(o.in), C.ulonglong(n), C.longlong(o.in))); err != nil {
		return nil, err
	}
	if err := blasErr("cublasLtMatrixLayoutCreate(Y)", C.c_lt_layout_create(a.ltLayoutCreate, &p.d, dt, C.ulonglong(o.out), C.ulonglong(n), C.longlong(o.out))); err != nil {
		return nil, err
	}
	p.algo = C.malloc(256)
	c.cmem = append(c.cmem, p.algo)
	count := (*C.int)(unsafe.Add(c.args, 128))
	*count = 0
	code := C.c_lt_heuristic(a.ltHeuristic, c.lt, o.desc, o.aLayout, p.b, p.d, p.d, c.pref, p.algo, count)
	state := *(*int32)(unsafe.Add(p.algo, 72))
	p.ok = code == 0 && *count > 0 && state == 0
	if p.ok {
		c.ltOK++
	} else {
		c.ltRefused++
		if c.ltWhy == "" {
			c.ltWhy = fmt.Sprintf("heuristic for %d×%d·%d: status %d, %d algorithms, state %d", n, o.in, o.out, int(code), int(*count), state)
		}
	}
	o.plans[n] = p
	return p, nil
}

// Paths reports how many (layer, rows) products use cuBLASLt and how many
// fell back to cublasGemmEx, with the first refusal's reason.
func (c *CUDA) Paths() (lt, fallback int, why string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ltOK, c.ltRefused, c.ltWhy
}
