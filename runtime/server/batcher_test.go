package server

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gpuctl/gpuctl/runtime/backend"
)

// countingBackend records the rows of each pass and answers x's first
// column, so a test can tell the rows apart.
type countingBackend struct {
	mu     sync.Mutex
	passes []int
}

func (c *countingBackend) Forward(_ context.Context, x []float32, rows int, out []float32) error {
	c.mu.Lock()
	c.passes = append(c.passes, rows)
	c.mu.Unlock()
	for r := range rows {
		out[r] = x[r*2]
	}
	return nil
}
func (c *countingBackend) Device() backend.Device { return backend.Device{Kind: "cpu"} }
func (c *countingBackend) Close() error           { return nil }

// A queue that holds a full batch dispatches it at once, whatever the
// batch delay, and the two workers do not split one batch between them
// (each then waiting out the delay with half a batch).
func TestFullBatchDispatchesAtOnce(t *testing.T) {
	be := &countingBackend{}
	b := newBatcher(be, 2, 1, 8, 5*time.Second, 64, 2, newMetrics(nil))
	defer b.close()
	start := time.Now()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out := []float32{-1}
			if _, err := b.submit(context.Background(), []float32{float32(i), 0}, 1, out); err != nil || out[0] != float32(i) {
				t.Errorf("row %d: %v %v", i, out, err)
			}
		}()
	}
	wg.Wait()
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("8 rows with max batch 8 took %s: full batches waited for the 5 s delay (passes %v)", el, be.passes)
	}
	if !slices.Equal(be.passes, []int{8}) {
		t.Errorf("passes %v; want one full batch of 8", be.passes)
	}
}

// hostBackend offers its own memory, as the CUDA backend's pinned
// buffers, and records whether each pass ran on it.
type hostBackend struct {
	countingBackend
	bufs   [][]float32
	onHost []bool
	freed  int
}

func (h *hostBackend) AllocHost(n int) ([]float32, error) {
	b := make([]float32, n)
	h.mu.Lock()
	h.bufs = append(h.bufs, b)
	h.mu.Unlock()
	return b, nil
}

func (h *hostBackend) FreeHost([]float32) error { h.mu.Lock(); h.freed++; h.mu.Unlock(); return nil }

func (h *hostBackend) Forward(ctx context.Context, x []float32, rows int, out []float32) error {
	h.mu.Lock()
	in := false
	for _, b := range h.bufs {
		in = in || &b[0] == &x[0]
	}
	h.onHost = append(h.onHost, in)
	h.mu.Unlock()
	return h.countingBackend.Forward(ctx, x, rows, out)
}

// With a backend that has its own memory, even a lone request is
// gathered into it; a request larger than a batch runs alone on its own
// buffers; the buffers are freed when the batcher closes.
func TestBatcherUsesBackendMemory(t *testing.T) {
	be := &hostBackend{}
	b := newBatcher(be, 2, 1, 4, 0, 64, 1, newMetrics(nil))
	out := []float32{-1}
	if _, err := b.submit(context.Background(), []float32{7, 0}, 1, out); err != nil || out[0] != 7 {
		t.Fatalf("one row: %v %v", out, err)
	}
	big := make([]float32, 2*6)
	for r := range 6 {
		big[2*r] = float32(r + 1)
	}
	bigOut := make([]float32, 6)
	if _, err := b.submit(context.Background(), big, 6, bigOut); err != nil || !slices.Equal(bigOut, []float32{1, 2, 3, 4, 5, 6}) {
		t.Fatalf("6 rows with max batch 4: %v %v", bigOut, err)
	}
	b.close()
	if !slices.Equal(be.onHost, []bool{true, false}) {
		t.Errorf("passes on the backend's memory: %v; want [true false]", be.onHost)
	}
	if be.freed != 2 {
		t.Errorf("freed %d host buffers; want 2", be.freed)
	}
}
