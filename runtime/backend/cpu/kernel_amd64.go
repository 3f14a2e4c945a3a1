package cpu

import "golang.org/x/sys/cpu"

// haveKernel says the AVX2+FMA micro-kernel can run here.
var haveKernel = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func kern6x16(k int, a, b, c *float32, ldc int)

//go:noescape
func kern1x16(k int, a, b, c *float32)
