package cpu

import (
	"os"

	"golang.org/x/sys/cpu"
)

// haveKernel says the AVX2+FMA micro-kernels can run here; wide says the
// AVX-512 ones can (panels of 32 outputs instead of 16). GPUCTL_NO_AVX512
// keeps the AVX2 kernels, for comparison and for CPUs that slow down their
// clock under AVX-512.
var (
	haveKernel = cpu.X86.HasAVX2 && cpu.X86.HasFMA
	wide       = haveKernel && cpu.X86.HasAVX512F && os.Getenv("GPUCTL_NO_AVX512") == ""
)

//go:noescape
func kern6x16(k int, a, b, c *float32, ldc int, acc bool)

//go:noescape
func kern1x16(k int, a, b, c *float32)

//go:noescape
func kern6x32(k int, a, b, c *float32, ldc int, acc bool)

//go:noescape
func kern1x32(k int, a, b, c *float32)

func pause()
