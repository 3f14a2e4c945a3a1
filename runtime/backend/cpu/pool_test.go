package cpu

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Concurrent callers each get every one of their tasks run exactly once,
// and do returns only after all of them have.
func TestPoolRunsEveryTaskOnce(t *testing.T) {
	p := newPool(4)
	defer p.stop()
	var wg sync.WaitGroup
	for c := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := range 50 {
				n := 1 + (c*7+round)%40
				counts := make([]atomic.Int32, n)
				p.do(n, func(i int) { counts[i].Add(1) })
				for i := range counts {
					if got := counts[i].Load(); got != 1 {
						t.Errorf("caller %d round %d: task %d ran %d times", c, round, i, got)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
}

// Workers that parked after spinning wake for the next section, and stop
// ends them.
func TestPoolParksWakesAndStops(t *testing.T) {
	before := runtime.NumGoroutine()
	p := newPool(3)
	p.spin = 50 * time.Microsecond
	var ran atomic.Int32
	p.do(8, func(int) { ran.Add(1) })
	time.Sleep(20 * p.spin) // every worker parks
	p.do(8, func(int) { ran.Add(1) })
	if ran.Load() != 16 {
		t.Fatalf("ran %d tasks, want 16", ran.Load())
	}
	p.stop()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines after stop, %d before the pool", n, before)
	}
}
