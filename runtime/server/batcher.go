package server

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/gpuctl/gpuctl/runtime/backend"
)

// errOverloaded is returned when the queue is full: the client gets 503
// with Retry-After instead of waiting behind work the server cannot finish.
var errOverloaded = errors.New("server overloaded: inference queue is full")

// job is one request's rows on their way through the batcher. Jobs are
// pooled: one is reused only after its answer was received.
type job struct {
	ctx   context.Context
	x     []float32
	rows  int
	out   []float32
	enq   time.Time
	queue time.Duration // time spent waiting, set by the batcher
	done  chan error    // buffered: the batcher never blocks on a gone client
}

var jobs = sync.Pool{New: func() any { return &job{done: make(chan error, 1)} }}

// batcher gathers concurrent requests into one Forward call, up to maxRows
// rows or maxDelay after the first request of a batch. With maxDelay 0 it
// takes whatever is queued when a worker comes free, which batches under
// load and adds no wait when idle. One worker gathers at a time (the
// others compute), so a batch is never split between workers waiting
// out the delay; a full batch leaves at once.
type batcher struct {
	be       backend.Backend
	in, out  int
	maxRows  int
	maxDelay time.Duration
	queue    chan *job
	met      *metrics
	wg       sync.WaitGroup
	gather   sync.Mutex
	// host is set when the backend's Forward is fastest on its own
	// memory (pinned, for the GPU): every batch, even of one request,
	// is gathered into such buffers, so the device copies them directly.
	host backend.HostMemory
}

func newBatcher(be backend.Backend, in, out, maxRows int, maxDelay time.Duration, queueLen, workers int, met *metrics) *batcher {
	b := &batcher{be: be, in: in, out: out, maxRows: maxRows, maxDelay: maxDelay, queue: make(chan *job, queueLen), met: met}
	b.host, _ = be.(backend.HostMemory)
	for range workers {
		b.wg.Add(1)
		go b.worker()
	}
	return b
}

// submit queues a job and waits for its result or the request's end.
func (b *batcher) submit(ctx context.Context, x []float32, rows int, out []float32) (time.Duration, error) {
	j := jobs.Get().(*job)
	j.ctx, j.x, j.rows, j.out, j.enq, j.queue = ctx, x, rows, out, time.Now(), 0
	select {
	case b.queue <- j:
	default:
		j.ctx, j.x, j.out = nil, nil, nil
		jobs.Put(j)
		return 0, errOverloaded
	}
	select {
	case err := <-j.done:
		q := j.queue
		j.ctx, j.x, j.out = nil, nil, nil
		jobs.Put(j)
		return q, err
	case <-ctx.Done():
		// The worker may still write into out and answer on done: the
		// caller must not reuse out, and the job is not pooled.
		return 0, ctx.Err()
	}
}

// close stops the workers after the queue is drained. Call it only after
// the HTTP server has stopped taking requests.
func (b *batcher) close() {
	close(b.queue)
	b.wg.Wait()
}

// buffers are a worker's batch input and output: the backend's own
// memory when it offers it (falling back to Go memory if it cannot).
func (b *batcher) buffers() (x, out []float32, free func()) {
	if b.host != nil {
		hx, err1 := b.host.AllocHost(b.maxRows * b.in)
		ho, err2 := b.host.AllocHost(b.maxRows * b.out)
		if err1 == nil && err2 == nil {
			return hx[:0], ho, func() { b.host.FreeHost(hx); b.host.FreeHost(ho) }
		}
		b.host.FreeHost(hx)
		b.host.FreeHost(ho)
	}
	return make([]float32, 0, b.maxRows*b.in), make([]float32, b.maxRows*b.out), func() {}
}

func (b *batcher) worker() {
	defer b.wg.Done()
	xbuf, obuf, free := b.buffers()
	defer free()
	batch := make([]*job, 0, 64)
	var carry *job
	for {
		var rows int
		var ok bool
		b.gather.Lock()
		batch, rows, carry, ok = b.form(batch[:0], carry)
		b.gather.Unlock()
		if !ok {
			return
		}
		b.run(batch, rows, &xbuf, obuf)
	}
}

// form takes the next batch from the queue (starting with carry, a job
// that did not fit the last one): up to maxRows rows, or what is queued
// (maxDelay 0), or what arrives within maxDelay of the first job.
func (b *batcher) form(batch []*job, carry *job) (_ []*job, rows int, next *job, ok bool) {
	first := carry
	if first == nil {
		if first, ok = <-b.queue; !ok {
			return batch, 0, nil, false
		}
	}
	batch = append(batch, first)
	rows = first.rows
	var timer *time.Timer
	if b.maxDelay > 0 {
		timer = time.NewTimer(b.maxDelay - time.Since(first.enq))
		defer timer.Stop()
	}
	for rows < b.maxRows {
		var j *job
		if timer == nil {
			select {
			case j, ok = <-b.queue:
			default:
				return batch, rows, nil, true
			}
		} else {
			select {
			case j, ok = <-b.queue:
			case <-timer.C:
				return batch, rows, nil, true
			}
		}
		if !ok {
			break
		}
		if rows+j.rows > b.maxRows {
			return batch, rows, j, true
		}
		batch = append(batch, j)
		rows += j.rows
	}
	return batch, rows, nil, true
}

// run computes one batch. A single job runs straight on its own buffers
// (unless the backend has its own memory and the job fits it); several are copied into one
// contiguous batch and the results split back.
func (b *batcher) run(batch []*job, rows int, xbuf *[]float32, obuf []float32) {
	now := time.Now()
	live := batch[:0]
	rows = 0
	for _, j := range batch {
		if j.ctx.Err() != nil {
			j.done <- j.ctx.Err() // client gone or timed out: skip its rows
			continue
		}
		j.queue = now.Sub(j.enq)
		b.met.queue.Observe(j.queue.Seconds())
		live = append(live, j)
		rows += j.rows
	}
	if len(live) == 0 {
		return
	}
	b.met.batchRows.Observe(float64(rows))
	start := time.Now()
	// A request larger than a batch is always alone, on its own buffers.
	if len(live) == 1 && (b.host == nil || rows > b.maxRows) {
		j := live[0]
		err := b.be.Forward(j.ctx, j.x, j.rows, j.out)
		b.met.compute.Observe(time.Since(start).Seconds())
		j.done <- err
		return
	}
	x := (*xbuf)[:0]
	for _, j := range live {
		x = append(x, j.x...)
	}
	*xbuf = x
	out := obuf[:rows*b.out]
	// The batch outlives any one request, so it must not be cancelled by
	// the first client that leaves.
	err := b.be.Forward(context.Background(), x, rows, out)
	b.met.compute.Observe(time.Since(start).Seconds())
	off := 0
	for _, j := range live {
		if err == nil {
			copy(j.out, out[off*b.out:(off+j.rows)*b.out])
		}
		off += j.rows
		j.done <- err
	}
}
