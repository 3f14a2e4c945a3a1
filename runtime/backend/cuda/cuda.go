//go:build cgo && linux

// Package cuda runs models on an NVIDIA GPU through cuBLAS, with the CUDA
// libraries opened at run time (dlopen), so the same binary starts on a
// machine with no CUDA and falls back to the CPU there. Weights stay
// resident on the GPU; element-wise kernels are compiled at start by NVRTC.
package cuda

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"errors"
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
	// ChunkRows is the smallest chunk a large request is cut into for the
	// copy/compute pipeline (default 512).
	ChunkRows int
	// Graphs replays each pass from a captured CUDA graph, one per slot
	// and row count, instead of launching its products one by one.
	Graphs bool
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
	dAct    [2]unsafe.Pointer
	// The pipeline (pipeline.go): copy streams, the ring of slots, graphs.
	h2d, d2h   unsafe.Pointer
	slots      [nSlots]slot
	next       int
	minChunk   int
	graphs     bool
	graph      map[graphKey]unsafe.Pointer
	events     []unsafe.Pointer
	hostBufs   []unsafe.Pointer       // the slots' staging
	hostMu     sync.RWMutex           // guards hostRanges (AllocHost runs beside Forward)
	hostRanges map[unsafe.Pointer]int // AllocHost buffers: start → bytes
	args       unsafe.Pointer
	allocs     []unsafe.Pointer
	lt         unsafe.Pointer
	pref       unsafe.Pointer
	ws         unsafe.Pointer
	cmem       []unsafe.Pointer // C allocations to free
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
	if o.ChunkRows <= 0 {
		o.ChunkRows = defaultChunk
	}
	a, err := loadAPI()
	if err != nil {
		return nil, err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	c := &CUDA{a: a, m: m, prec: prec, maxRows: o.MaxRows, k: map[string]unsafe.Pointer{}, maxW: m.In,
		minChunk: o.ChunkRows, graphs: o.Graphs, graph: map[graphKey]unsafe.Pointer{}, hostRanges: map[unsafe.Pointer]int{}}
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
	for i := range c.dAct {
		if c.dAct[i], err = c.alloc(c.maxRows * c.maxW * c.elem()); err != nil {
			return nil, err
		}
	}
	if err := c.initPipeline(); err != nil {
		return nil, err
	}
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
	c.drain(errors.New("backend closed"))
	c.closePipeline()
	for _, p := range c.allocs {
		C.c_p(c.a.free, p)
	}
	c.allocs = nil
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

// Paths reports how many (layer, rows) products use cuBLASLt and how many
// fell back to cublasGemmEx, with the first refusal's reason.
func (c *CUDA) Paths() (lt, fallback int, why string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ltOK, c.ltRefused, c.ltWhy
}
