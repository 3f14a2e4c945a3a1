//go:build !amd64

package cpu

const (
	haveKernel = false
	wide       = false
)

func kern6x16(k int, a, b, c *float32, ldc int, acc bool) {
	panic("cpu: no micro-kernel on this architecture")
}
func kern1x16(k int, a, b, c *float32) { panic("cpu: no micro-kernel on this architecture") }
func kern6x32(k int, a, b, c *float32, ldc int, acc bool) {
	panic("cpu: no micro-kernel on this architecture")
}
func kern1x32(k int, a, b, c *float32) { panic("cpu: no micro-kernel on this architecture") }

func pause() {}
