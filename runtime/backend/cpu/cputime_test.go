package cpu

import (
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user+system time: on a machine shared with
// other work, CPU time per operation of a one-thread benchmark moves far
// less than wall time does.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds cpu-ms/op since t0 to b's results.
func reportCPU(b *testing.B, t0 time.Duration) {
	b.ReportMetric(float64(cpuTime()-t0)/1e6/float64(b.N), "cpu-ms/op")
}
