//go:build cgo && linux

package cuda

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>
#include <stddef.h>

// Function types of the few CUDA entry points we use, declared here so the
// build needs no CUDA headers; the libraries are opened at run time.
typedef int (*fn_i)(int);
typedef int (*fn_pi)(int*);
typedef int (*fn_ppsz)(void**, size_t);
typedef int (*fn_p)(void*);
typedef int (*fn_memcpy_async)(void*, const void*, size_t, int, void*);
typedef int (*fn_stream_create)(void**, unsigned int);
typedef int (*fn_attr)(int*, int, int);
typedef int (*fn_meminfo)(size_t*, size_t*);
typedef const char* (*fn_errstr)(int);
typedef int (*fn_pp)(void*, void*);
typedef int (*fn_ppu)(void*, void*, unsigned int);
typedef int (*fn_p_i)(void*, int);
typedef int (*fn_p_pp)(void*, void**);
typedef int (*fn_graph_inst)(void**, void*, unsigned long long);
typedef int (*fn_host_alloc)(void**, size_t, unsigned int);

typedef int (*fn_cu_device_get)(int*, int);
typedef int (*fn_cu_primary_retain)(void**, int);
typedef int (*fn_cu_module_load_data)(void**, const void*);
typedef int (*fn_cu_module_get_function)(void**, void*, const char*);
typedef int (*fn_cu_launch)(void*, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, void*, void**, void**);
typedef int (*fn_cu_errstr)(int, const char**);

typedef int (*fn_blas_create)(void**);
typedef int (*fn_blas_set_stream)(void*, void*);
typedef int (*fn_blas_gemm_ex)(void*, int, int, int, int, int, const void*, const void*, int, int, const void*, int, int, const void*, void*, int, int, int, int);

typedef int (*fn_blas_set_ws)(void*, void*, size_t);
typedef int (*fn_lt_desc_create)(void**, int, int);
typedef int (*fn_lt_set_attr)(void*, int, const void*, size_t);
typedef int (*fn_lt_layout_create)(void**, int, unsigned long long, unsigned long long, long long);
typedef int (*fn_lt_heuristic)(void*, void*, void*, void*, void*, void*, void*, int, void*, int*);
typedef int (*fn_lt_matmul)(void*, void*, const void*, const void*, void*, const void*, void*, const void*, const void*, void*, void*, void*, const void*, void*, size_t, void*);

typedef int (*fn_nvrtc_create)(void**, const char*, const char*, int, const char* const*, const char* const*);
typedef int (*fn_nvrtc_compile)(void*, int, const char* const*);
typedef int (*fn_nvrtc_size)(void*, size_t*);
typedef int (*fn_nvrtc_get)(void*, char*);
typedef int (*fn_nvrtc_destroy)(void**);
typedef const char* (*fn_nvrtc_errstr)(int);

static void* open_lib(const char* n) { return dlopen(n, RTLD_NOW | RTLD_GLOBAL); }
static void* sym(void* h, const char* n) { return dlsym(h, n); }
static const char* dl_error(void) { const char* e = dlerror(); return e ? e : ""; }

int c_i(void* f, int a) { return ((fn_i)f)(a); }
int c_pi(void* f, int* a) { return ((fn_pi)f)(a); }
int c_ppsz(void* f, void** p, size_t n) { return ((fn_ppsz)f)(p, n); }
int c_p(void* f, void* p) { return ((fn_p)f)(p); }
int c_memcpy_async(void* f, void* d, const void* s, size_t n, int k, void* st) { return ((fn_memcpy_async)f)(d, s, n, k, st); }
int c_stream_create(void* f, void** s, unsigned int fl) { return ((fn_stream_create)f)(s, fl); }
int c_attr(void* f, int* v, int a, int d) { return ((fn_attr)f)(v, a, d); }
int c_meminfo(void* f, size_t* fr, size_t* t) { return ((fn_meminfo)f)(fr, t); }
const char* c_errstr(void* f, int e) { return ((fn_errstr)f)(e); }
int c_pp(void* f, void* a, void* b) { return ((fn_pp)f)(a, b); }
int c_ppu(void* f, void* a, void* b, unsigned int u) { return ((fn_ppu)f)(a, b, u); }
int c_p_i(void* f, void* a, int i) { return ((fn_p_i)f)(a, i); }
int c_p_pp(void* f, void* a, void** b) { return ((fn_p_pp)f)(a, b); }
int c_graph_inst(void* f, void** e, void* g) { return ((fn_graph_inst)f)(e, g, 0); }
int c_host_alloc(void* f, void** p, size_t n, unsigned int fl) { return ((fn_host_alloc)f)(p, n, fl); }

int c_cu_device_get(void* f, int* d, int o) { return ((fn_cu_device_get)f)(d, o); }
int c_cu_primary_retain(void* f, void** c, int d) { return ((fn_cu_primary_retain)f)(c, d); }
int c_cu_module_load_data(void* f, void** m, const void* img) { return ((fn_cu_module_load_data)f)(m, img); }
int c_cu_module_get_function(void* f, void** fn, void* m, const char* n) { return ((fn_cu_module_get_function)f)(fn, m, n); }
int c_cu_launch(void* f, void* k, unsigned gx, unsigned gy, unsigned bx, void* st, void** args) {
	return ((fn_cu_launch)f)(k, gx, gy, 1, bx, 1, 1, 0, st, args, NULL);
}
const char* c_cu_errstr(void* f, int e) { const char* s = NULL; ((fn_cu_errstr)f)(e, &s); return s ? s : "unknown"; }

int c_blas_create(void* f, void** h) { return ((fn_blas_create)f)(h); }
int c_blas_set_stream(void* f, void* h, void* s) { return ((fn_blas_set_stream)f)(h, s); }
int c_blas_gemm_ex(void* f, void* h, int ta, int tb, int m, int n, int k, const float* al,
	const void* A, int at, int lda, const void* B, int bt, int ldb, const float* be, void* C, int ct, int ldc, int comp) {
	return ((fn_blas_gemm_ex)f)(h, ta, tb, m, n, k, al, A, at, lda, B, bt, ldb, be, C, ct, ldc, comp, -1);
}

int c_blas_set_ws(void* f, void* h, void* w, size_t n) { return ((fn_blas_set_ws)f)(h, w, n); }
int c_lt_desc_create(void* f, void** d, int comp, int scale) { return ((fn_lt_desc_create)f)(d, comp, scale); }
int c_lt_set_attr(void* f, void* d, int attr, const void* v, size_t n) { return ((fn_lt_set_attr)f)(d, attr, v, n); }
int c_lt_layout_create(void* f, void** l, int t, unsigned long long rows, unsigned long long cols, long long ld) { return ((fn_lt_layout_create)f)(l, t, rows, cols, ld); }
// One heuristic result is 96 bytes: the 64-byte algo, workspace size, state, waves, reserved.
int c_lt_heuristic(void* f, void* h, void* desc, void* a, void* b, void* c, void* d, void* pref, void* result, int* count) {
	return ((fn_lt_heuristic)f)(h, desc, a, b, c, d, pref, 1, result, count);
}
int c_lt_matmul(void* f, void* h, void* desc, const float* alpha, const void* A, void* Ad, const void* B, void* Bd, const float* beta,
	void* C, void* Cd, void* D, void* Dd, const void* algo, void* ws, size_t wsn, void* stream) {
	return ((fn_lt_matmul)f)(h, desc, alpha, A, Ad, B, Bd, beta, C, Cd, D, Dd, algo, ws, wsn, stream);
}

int c_nvrtc_create(void* f, void** p, const char* src, const char* name) { return ((fn_nvrtc_create)f)(p, src, name, 0, NULL, NULL); }
int c_nvrtc_compile(void* f, void* p, int n, const char* const* o) { return ((fn_nvrtc_compile)f)(p, n, o); }
int c_nvrtc_size(void* f, void* p, size_t* n) { return ((fn_nvrtc_size)f)(p, n); }
int c_nvrtc_get(void* f, void* p, char* b) { return ((fn_nvrtc_get)f)(p, b); }
int c_nvrtc_destroy(void* f, void** p) { return ((fn_nvrtc_destroy)f)(p); }
const char* c_nvrtc_errstr(void* f, int e) { return ((fn_nvrtc_errstr)f)(e); }
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unsafe"
)

// libDirs are searched after the loader's own path: the CUDA toolkit's
// library folder is not on the default path on Ubuntu's CUDA packages.
func libDirs() []string {
	var dirs []string
	for _, d := range filepath.SplitList(os.Getenv("LD_LIBRARY_PATH")) {
		if d != "" {
			dirs = append(dirs, d)
		}
	}
	for _, env := range []string{"CUDA_HOME", "CUDA_PATH"} {
		if h := os.Getenv(env); h != "" {
			dirs = append(dirs, filepath.Join(h, "targets/x86_64-linux/lib"), filepath.Join(h, "lib64"))
		}
	}
	return append(dirs, "/usr/local/cuda/targets/x86_64-linux/lib", "/usr/local/cuda/lib64", "/usr/local/nvidia/lib64", "/usr/lib/x86_64-linux-gnu")
}

// ErrNoLibrary wraps every failure to find a CUDA library, so callers can
// fall back to the CPU with a clear reason.
var ErrNoLibrary = errors.New("CUDA library not found")

type lib struct {
	name string
	h    unsafe.Pointer
}

// openLib tries each soname, first on the loader's path, then in libDirs.
func openLib(names ...string) (*lib, error) {
	var tried []string
	for _, n := range names {
		cands := []string{n}
		for _, d := range libDirs() {
			cands = append(cands, filepath.Join(d, n))
		}
		for _, c := range cands {
			cn := C.CString(c)
			h := C.open_lib(cn)
			C.free(unsafe.Pointer(cn))
			if h != nil {
				return &lib{name: c, h: h}, nil
			}
		}
		tried = append(tried, n)
	}
	return nil, fmt.Errorf("%w: none of %s on the loader path or in %s (%s)", ErrNoLibrary, strings.Join(tried, ", "), strings.Join(libDirs(), ":"), C.GoString(C.dl_error()))
}

func (l *lib) sym(name string) (unsafe.Pointer, error) {
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	p := C.sym(l.h, cn)
	if p == nil {
		return nil, fmt.Errorf("%s: missing symbol %s", l.name, name)
	}
	return p, nil
}

// api holds the entry points, resolved once.
type api struct {
	rt, drv, blas, lt, nvrtc *lib

	setDevice, deviceSynchronize, malloc, free, mallocHost, freeHost, memcpyAsync, streamCreate, streamSync,
	getAttr, memInfo, errStr, runtimeVersion, getLastError unsafe.Pointer
	// Streams, events and graphs for the copy/compute pipeline.
	hostAlloc, streamDestroy, eventCreate, eventRecord, eventSync, eventDestroy, streamWaitEvent                     unsafe.Pointer
	beginCapture, endCapture, graphInstantiate, graphLaunch, graphDestroy, graphExecDestroy                          unsafe.Pointer
	cuInit, cuDeviceGet, cuPrimaryRetain, cuCtxSetCurrent, cuModuleLoadData, cuModuleGetFunction, cuLaunch, cuErrStr unsafe.Pointer
	blasCreate, blasDestroy, blasSetStream, gemmEx, blasSetWorkspace                                                 unsafe.Pointer
	ltCreate, ltDescCreate, ltDescSet, ltLayoutCreate, ltPrefCreate, ltPrefSet, ltHeuristic, ltMatmul                unsafe.Pointer
	nvCreate, nvCompile, nvCubinSize, nvCubin, nvLogSize, nvLog, nvDestroy, nvErrStr, nvVersion                      unsafe.Pointer
}

func loadAPI() (*api, error) {
	a := &api{}
	var err error
	if a.rt, err = openLib("libcudart.so.13", "libcudart.so.12", "libcudart.so"); err != nil {
		return nil, err
	}
	if a.drv, err = openLib("libcuda.so.1", "libcuda.so"); err != nil {
		return nil, err
	}
	if a.blas, err = openLib("libcublas.so.13", "libcublas.so.12", "libcublas.so"); err != nil {
		return nil, err
	}
	if a.lt, err = openLib("libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so"); err != nil {
		return nil, err
	}
	if a.nvrtc, err = openLib("libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"); err != nil {
		return nil, err
	}
	syms := []struct {
		l    *lib
		name string
		dst  *unsafe.Pointer
	}{
		{a.rt, "cudaSetDevice", &a.setDevice}, {a.rt, "cudaDeviceSynchronize", &a.deviceSynchronize},
		{a.rt, "cudaMalloc", &a.malloc}, {a.rt, "cudaFree", &a.free},
		{a.rt, "cudaMallocHost", &a.mallocHost}, {a.rt, "cudaFreeHost", &a.freeHost},
		{a.rt, "cudaMemcpyAsync", &a.memcpyAsync}, {a.rt, "cudaStreamCreateWithFlags", &a.streamCreate},
		{a.rt, "cudaStreamSynchronize", &a.streamSync}, {a.rt, "cudaDeviceGetAttribute", &a.getAttr},
		{a.rt, "cudaMemGetInfo", &a.memInfo}, {a.rt, "cudaGetErrorString", &a.errStr},
		{a.rt, "cudaRuntimeGetVersion", &a.runtimeVersion}, {a.rt, "cudaGetLastError", &a.getLastError},
		{a.rt, "cudaHostAlloc", &a.hostAlloc}, {a.rt, "cudaStreamDestroy", &a.streamDestroy},
		{a.rt, "cudaEventCreateWithFlags", &a.eventCreate}, {a.rt, "cudaEventRecord", &a.eventRecord},
		{a.rt, "cudaEventSynchronize", &a.eventSync}, {a.rt, "cudaEventDestroy", &a.eventDestroy},
		{a.rt, "cudaStreamWaitEvent", &a.streamWaitEvent},
		{a.rt, "cudaStreamBeginCapture", &a.beginCapture}, {a.rt, "cudaStreamEndCapture", &a.endCapture},
		{a.rt, "cudaGraphInstantiate", &a.graphInstantiate}, {a.rt, "cudaGraphLaunch", &a.graphLaunch},
		{a.rt, "cudaGraphDestroy", &a.graphDestroy}, {a.rt, "cudaGraphExecDestroy", &a.graphExecDestroy},
		{a.drv, "cuInit", &a.cuInit}, {a.drv, "cuDeviceGet", &a.cuDeviceGet},
		{a.drv, "cuDevicePrimaryCtxRetain", &a.cuPrimaryRetain}, {a.drv, "cuCtxSetCurrent", &a.cuCtxSetCurrent},
		{a.drv, "cuModuleLoadData", &a.cuModuleLoadData}, {a.drv, "cuModuleGetFunction", &a.cuModuleGetFunction},
		{a.drv, "cuLaunchKernel", &a.cuLaunch}, {a.drv, "cuGetErrorString", &a.cuErrStr},
		{a.blas, "cublasCreate_v2", &a.blasCreate}, {a.blas, "cublasDestroy_v2", &a.blasDestroy},
		{a.blas, "cublasSetStream_v2", &a.blasSetStream}, {a.blas, "cublasGemmEx", &a.gemmEx},
		{a.blas, "cublasSetWorkspace_v2", &a.blasSetWorkspace},
		{a.lt, "cublasLtCreate", &a.ltCreate}, {a.lt, "cublasLtMatmulDescCreate", &a.ltDescCreate},
		{a.lt, "cublasLtMatmulDescSetAttribute", &a.ltDescSet}, {a.lt, "cublasLtMatrixLayoutCreate", &a.ltLayoutCreate},
		{a.lt, "cublasLtMatmulPreferenceCreate", &a.ltPrefCreate}, {a.lt, "cublasLtMatmulPreferenceSetAttribute", &a.ltPrefSet},
		{a.lt, "cublasLtMatmulAlgoGetHeuristic", &a.ltHeuristic}, {a.lt, "cublasLtMatmul", &a.ltMatmul},
		{a.nvrtc, "nvrtcCreateProgram", &a.nvCreate}, {a.nvrtc, "nvrtcCompileProgram", &a.nvCompile},
		{a.nvrtc, "nvrtcGetCUBINSize", &a.nvCubinSize}, {a.nvrtc, "nvrtcGetCUBIN", &a.nvCubin},
		{a.nvrtc, "nvrtcGetProgramLogSize", &a.nvLogSize}, {a.nvrtc, "nvrtcGetProgramLog", &a.nvLog},
		{a.nvrtc, "nvrtcDestroyProgram", &a.nvDestroy}, {a.nvrtc, "nvrtcGetErrorString", &a.nvErrStr},
	}
	for _, s := range syms {
		if *s.dst, err = s.l.sym(s.name); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// Error wrappers: each names the call and CUDA's own message.

func (a *api) rtErr(call string, code C.int) error {
	if code == 0 {
		return nil
	}
	return fmt.Errorf("%s: CUDA error %d: %s", call, int(code), C.GoString(C.c_errstr(a.errStr, code)))
}

func (a *api) drvErr(call string, code C.int) error {
	if code == 0 {
		return nil
	}
	return fmt.Errorf("%s: CUDA driver error %d: %s", call, int(code), C.GoString(C.c_cu_errstr(a.cuErrStr, code)))
}

func blasErr(call string, code C.int) error {
	if code == 0 {
		return nil
	}
	names := map[int]string{1: "NOT_INITIALIZED", 3: "ALLOC_FAILED", 7: "INVALID_VALUE", 8: "ARCH_MISMATCH", 11: "MAPPING_ERROR", 13: "EXECUTION_FAILED", 14: "INTERNAL_ERROR", 15: "NOT_SUPPORTED", 16: "LICENSE_ERROR"}
	return fmt.Errorf("%s: cuBLAS status %d (%s)", call, int(code), names[int(code)])
}

func (a *api) nvrtcErr(call string, code C.int) error {
	if code == 0 {
		return nil
	}
	return fmt.Errorf("%s: NVRTC error %d: %s", call, int(code), C.GoString(C.c_nvrtc_errstr(a.nvErrStr, code)))
}
