//go:build cgo && linux

package device

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>

// NVML's few entry points we use, declared here so the build needs no NVML
// header (go-nvml's nvml.h raised pages of deprecation warnings on every
// first build); the library is opened at run time, as the CUDA backend does.
typedef struct { unsigned long long total, free, used; } nv_memory;
typedef struct { unsigned int gpu, memory; } nv_utilization;

static void* nv_open(const char* n) { return dlopen(n, RTLD_NOW | RTLD_LOCAL); }
static void* nv_sym(void* h, const char* n) { return dlsym(h, n); }
static const char* nv_dlerror(void) { const char* e = dlerror(); return e ? e : ""; }

static int nv_void(void* f) { return ((int (*)(void))f)(); }
static const char* nv_errstr(void* f, int r) { return ((const char* (*)(int))f)(r); }
static int nv_str(void* f, char* buf, unsigned int n) { return ((int (*)(char*, unsigned int))f)(buf, n); }
static int nv_int(void* f, int* v) { return ((int (*)(int*))f)(v); }
static int nv_uint(void* f, unsigned int* v) { return ((int (*)(unsigned int*))f)(v); }
static int nv_handle(void* f, unsigned int i, void** d) { return ((int (*)(unsigned int, void**))f)(i, d); }
static int nv_dev_str(void* f, void* d, char* buf, unsigned int n) { return ((int (*)(void*, char*, unsigned int))f)(d, buf, n); }
static int nv_memory_info(void* f, void* d, nv_memory* m) { return ((int (*)(void*, nv_memory*))f)(d, m); }
static int nv_utilization_rates(void* f, void* d, nv_utilization* u) { return ((int (*)(void*, nv_utilization*))f)(d, u); }
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/gpuctl/gpuctl/runtime/backend"
)

// libName is the soname the NVIDIA driver installs; the loader's own path
// finds it on every distribution's driver packages and in GPU containers.
const libName = "libnvidia-ml.so.1"

// ErrNoLibrary means libnvidia-ml is not installed: a machine with no
// NVIDIA driver, the usual case on CI and laptops.
var ErrNoLibrary = errors.New("NVML library libnvidia-ml.so.1 not found (no NVIDIA driver)")

// Buffer sizes from nvml.h (NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE,
// NVML_DEVICE_NAME_V2_BUFFER_SIZE, NVML_DEVICE_UUID_V2_BUFFER_SIZE).
const driverBuf, nameBuf, uuidBuf = 80, 96, 96

// library holds the opened NVML and its entry points, resolved once.
type library struct {
	h                                             unsafe.Pointer
	initV2, shutdownFn, errorString               unsafe.Pointer
	driverVersion, cudaVersion, count, handleAt   unsafe.Pointer
	deviceName, deviceUUID, memoryInfo, utilRates unsafe.Pointer
}

func open(path string) (*library, error) {
	cp := C.CString(path)
	defer C.free(unsafe.Pointer(cp))
	h := C.nv_open(cp)
	if h == nil {
		return nil, fmt.Errorf("%w: %s", ErrNoLibrary, C.GoString(C.nv_dlerror()))
	}
	l := &library{h: h}
	for _, s := range []struct {
		name string
		dst  *unsafe.Pointer
	}{
		{"nvmlInit_v2", &l.initV2}, {"nvmlShutdown", &l.shutdownFn}, {"nvmlErrorString", &l.errorString},
		{"nvmlSystemGetDriverVersion", &l.driverVersion}, {"nvmlSystemGetCudaDriverVersion", &l.cudaVersion},
		{"nvmlDeviceGetCount_v2", &l.count}, {"nvmlDeviceGetHandleByIndex_v2", &l.handleAt},
		{"nvmlDeviceGetName", &l.deviceName}, {"nvmlDeviceGetUUID", &l.deviceUUID},
		{"nvmlDeviceGetMemoryInfo", &l.memoryInfo}, {"nvmlDeviceGetUtilizationRates", &l.utilRates},
	} {
		cn := C.CString(s.name)
		*s.dst = C.nv_sym(h, cn)
		C.free(unsafe.Pointer(cn))
		if *s.dst == nil {
			// A library without a symbol we need is a broken or too old
			// driver: "no GPU" with the reason, never a crash.
			C.dlclose(h)
			return nil, fmt.Errorf("NVML %s: missing symbol %s", path, s.name)
		}
	}
	return l, nil
}

// err turns an nvmlReturn_t into an error with NVML's own message.
func (l *library) err(call string, r C.int) error {
	if r == 0 {
		return nil
	}
	return fmt.Errorf("NVML %s: %s", call, C.GoString(C.nv_errstr(l.errorString, r)))
}

func (l *library) shutdown() { C.nv_void(l.shutdownFn) }

func (l *library) str(f unsafe.Pointer, n int) (string, bool) {
	buf := make([]byte, n)
	r := C.nv_str(f, (*C.char)(unsafe.Pointer(&buf[0])), C.uint(n))
	return C.GoString((*C.char)(unsafe.Pointer(&buf[0]))), r == 0
}

func (l *library) devStr(f, d unsafe.Pointer, n int) string {
	buf := make([]byte, n)
	if C.nv_dev_str(f, d, (*C.char)(unsafe.Pointer(&buf[0])), C.uint(n)) != 0 {
		return ""
	}
	return C.GoString((*C.char)(unsafe.Pointer(&buf[0])))
}

func (l *library) deviceCount() (int, error) {
	var n C.uint
	if err := l.err("device count", C.nv_uint(l.count, &n)); err != nil {
		return 0, err
	}
	return int(n), nil
}

func (l *library) device(i int) (unsafe.Pointer, bool) {
	var d unsafe.Pointer
	return d, C.nv_handle(l.handleAt, C.uint(i), &d) == 0
}

func (l *library) memory(d unsafe.Pointer) (C.nv_memory, bool) {
	var m C.nv_memory
	return m, C.nv_memory_info(l.memoryInfo, d, &m) == 0
}

// utilization is the GPU's busy fraction over NVML's last sample period.
func (l *library) utilization(d unsafe.Pointer) (float64, bool) {
	var u C.nv_utilization
	if C.nv_utilization_rates(l.utilRates, d, &u) != 0 {
		return 0, false
	}
	return float64(u.gpu) / 100, true
}

// detect opens NVML at path, initialises it and lists the GPUs. It
// returns the library still initialised when it found some.
func detect(path string) (Probe, *library) {
	l, err := open(path)
	if err != nil {
		return Probe{Err: err}, nil
	}
	if err := l.err("init", C.nv_void(l.initV2)); err != nil {
		return Probe{Err: err}, nil
	}
	var p Probe
	if v, ok := l.str(l.driverVersion, driverBuf); ok {
		p.Driver = v
	}
	var cv C.int
	if C.nv_int(l.cudaVersion, &cv) == 0 {
		p.CUDA = cudaVersion(int(cv))
	}
	n, err := l.deviceCount()
	if err != nil {
		l.shutdown()
		return Probe{Driver: p.Driver, CUDA: p.CUDA, Err: err}, nil
	}
	for i := 0; i < n; i++ {
		d, ok := l.device(i)
		if !ok {
			continue
		}
		g := backend.Device{Kind: "cuda", Driver: p.Driver, CUDA: p.CUDA}
		g.Name = l.devStr(l.deviceName, d, nameBuf)
		g.UUID = l.devStr(l.deviceUUID, d, uuidBuf)
		if m, ok := l.memory(d); ok {
			g.MemoryTotal = uint64(m.total)
		}
		p.GPUs = append(p.GPUs, g)
	}
	if len(p.GPUs) == 0 {
		l.shutdown()
		return Probe{Driver: p.Driver, CUDA: p.CUDA, Err: errors.New("NVML found no GPU")}, nil
	}
	return p, l
}
