//go:build cgo && linux

package cuda

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

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
