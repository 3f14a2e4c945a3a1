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

// job is one request's rows on their way through the batcher.
type job struct {
	ctx   context.Context
	x     []float32
	rows  int
	out   []float32
	enq   time.Time
	queue time.Duration // time spent waiting, set by the batcher
	done  chan error    // buffered: the batcher never blocks on a gone client
}

// batcher gathers concurrent requests into one Forward call, up to maxRows
// rows or maxDelay after the first request of a batch. With maxDelay 0 it
// takes whatever is queued when a worker comes free, which batches under
// load and adds no wait when idle.
type batcher struct {
	be       backend.Backend
	in, out  int
	maxRows  int
	maxDelay time.Duration
	queue    chan *job
	met      *metrics
	wg       sync.WaitGroup
}

func newBatcher(be backend.Backend, in, out, maxRows int, maxDelay time.Duration, queueLen, workers int, met *metrics) *batcher {
	b := &batcher{be: be, in: in, out: out, maxRows: maxRows, maxDelay: maxDelay, queue: make(chan *job, queueLen), met: met}
	for range workers {
		b.wg.Add(1)
		go b.worker()
	}
	return b
}

// submit queues a job and waits for its result or the request's end.
func (b *batcher) submit(ctx context.Context, x []float32, rows int, out []float32) (time.Duration, error) {
	j := &job{ctx: ctx, x: x, rows: rows, out: out, enq: time.Now(), done: make(chan error, 1)}
	select {
	case b.queue <- j:
	default:
		return 0, errOverloaded
	}
	select {
	case err := <-j.done:
		return j.queue, err
	case <-ctx.Done():
		// The worker may still write into out; the caller must not reuse it.
		return 0, ctx.Err()
	}
}

// close stops the workers after the queue is drained. Call it only after
// the HTTP server has stopped taking requests.
func (b *batcher) close() {
	close(b.queue)
	b.wg.Wait()
}

func (b *batcher) worker() {
	defer b.wg.Done()
	var carry *job
	xbuf := make([]float32, 0, b.maxRows*b.in)
	obuf := make([]float32, 0, b.maxRows*b.out)
	batch := make([]*job, 0, 64)
	for {
		batch = batch[:0]
		first := carry
		carry = nil
		if first == nil {
			j, ok := <-b.queue
			if !ok {
				return
			}
			first = j
		}
		batch = append(batch, first)
		rows := first.rows
		var timer <-chan time.Time
		if b.maxDelay > 0 {
			timer = time.After(b.maxDelay - time.Since(first.enq))
		}
	gather:
		for rows < b.maxRows {
			var j *job
			var ok bool
			if timer == nil {
				select {
				case j, ok = <-b.queue:
				default:
					break gather
				}
			} else {
				select {
				case j, ok = <-b.queue:
				case <-timer:
					break gather
				}
			}
			if !ok {
				break
			}
			if rows+j.rows > b.maxRows {
				carry = j
				break
			}
			batch = append(batch, j)
			rows += j.rows
		}
		b.run(batch, rows, &xbuf, &obuf)
	}
}

// run computes one batch. A single job runs straight on its own buffers;
// several are copied into one contiguous batch and the results split back.
func (b *batcher) run(batch []*job, rows int, xbuf, obuf *[]float32) {
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
	if len(live) == 1 {
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
	out := (*obuf)[:rows*b.out]
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
