package cpu

import (
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// spinFor is how long an idle worker polls for the next job before it
// parks; GPUCTL_CPU_SPIN (a duration) sets it. A forward pass is a chain
// of parallel sections a few microseconds to milliseconds apart, and
// waking a parked thread costs tens of microseconds on a virtual machine,
// which is why OpenMP runtimes spin (libgomp's GOMP_SPINCOUNT, Intel's
// KMP_BLOCKTIME). The default is not to: on the 2-core development
// machine, shared with other work, spinning threads only took time from
// the computing ones (batch 1: 184 rows/s spinning 100 µs against 224
// without, 2 threads, 5 interleaved rounds); a host with cores to itself
// may gain from it, which is still to be measured.
const spinFor = 0

func spinTime() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("GPUCTL_CPU_SPIN")); err == nil && d >= 0 {
		return d
	}
	return spinFor
}

// pool runs parallel sections on long-lived worker goroutines. One section
// runs at a time (concurrent Forward calls take turns per section; each
// section already uses every core), the caller working alongside.
type pool struct {
	workers int           // goroutines besides the caller
	spin    time.Duration // how long idle threads poll before they block

	run    sync.Mutex // one section at a time
	start  sync.Once
	cur    atomic.Pointer[section]
	seq    atomic.Uint64 // bumped for every section, and on stop
	parkMu sync.Mutex
	wake   *sync.Cond
	parked int
	quit   atomic.Bool
}

// section is one parallel loop: tasks 0..n-1, taken in order by whoever
// is free; fin is closed by the one that finishes the last task.
type section struct {
	n    int64
	fn   func(i int)
	next atomic.Int64
	done atomic.Int64
	fin  chan struct{}
}

func newPool(threads int) *pool {
	p := &pool{workers: max(threads-1, 0), spin: spinTime()}
	p.wake = sync.NewCond(&p.parkMu)
	return p
}

// do runs fn(i) for i in 0..n-1 across the caller and the workers and
// returns when all have returned.
func (p *pool) do(n int, fn func(i int)) {
	if n <= 1 || p.workers == 0 {
		for i := 0; i < n; i++ {
			fn(i)
		}
		return
	}
	p.start.Do(func() {
		for range p.workers {
			go p.worker()
		}
	})
	s := &section{n: int64(n), fn: fn, fin: make(chan struct{})}
	p.run.Lock()
	defer p.run.Unlock()
	p.cur.Store(s)
	p.seq.Add(1)
	p.parkMu.Lock()
	if p.parked > 0 {
		p.wake.Broadcast()
	}
	p.parkMu.Unlock()
	s.work()
	// Spin briefly for the others' last tasks (they are usually as long
	// as ours), then block.
	for t, i := time.Now(), 0; s.done.Load() < s.n && (i&63 != 63 || time.Since(t) < p.spin); i++ {
		spin(i)
	}
	<-s.fin
	p.cur.Store(nil)
}

func (s *section) work() {
	for {
		i := s.next.Add(1) - 1
		if i >= s.n {
			return
		}
		s.fn(int(i))
		if s.done.Add(1) == s.n {
			close(s.fin)
		}
	}
}

func (p *pool) worker() {
	var last uint64
	for {
		last = p.await(last)
		if p.quit.Load() {
			return
		}
		if s := p.cur.Load(); s != nil {
			s.work()
		}
	}
}

// await returns once seq differs from last: spinning for spinFor, then
// parked until do or stop wakes it.
func (p *pool) await(last uint64) uint64 {
	for t, i := time.Now(), 0; ; i++ {
		if s := p.seq.Load(); s != last {
			return s
		}
		if i&63 == 63 && time.Since(t) > p.spin {
			break
		}
		spin(i)
	}
	p.parkMu.Lock()
	defer p.parkMu.Unlock()
	for p.seq.Load() == last {
		p.parked++
		p.wake.Wait()
		p.parked--
	}
	return p.seq.Load()
}

// stop ends the workers once they finish what they are doing.
func (p *pool) stop() {
	p.quit.Store(true)
	p.seq.Add(1)
	p.parkMu.Lock()
	p.wake.Broadcast()
	p.parkMu.Unlock()
}

// spin is step i of a polite busy wait: a PAUSE where there is one, and a
// yield now and then so a spinning worker never starves a goroutine that
// needs its thread.
func spin(i int) {
	pause()
	if i&1023 == 1023 {
		runtime.Gosched()
	}
}
