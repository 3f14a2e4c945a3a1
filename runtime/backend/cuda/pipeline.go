//go:build cgo && linux

package cuda

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"unsafe"

	"github.com/gpuctl/gpuctl/runtime/backend"
)

// The copy/compute pipeline. A request is cut into chunks; each chunk
// takes one slot of a ring, and its host→device copy, compute and
// device→host copy run on three streams ordered by the slot's events, so
// the copy of one chunk runs while the GPU computes another (and the two
// copy directions run at once: PCIe is full duplex). The host waits only
// when it reuses a slot, for that slot's previous chunk.
//
// Calls overlap: Forward holds the lock only while it enqueues, then waits
// for its own chunks without it, so the next caller's copies run while
// this one computes. A lone request of a thousand rows cannot hide its
// copies (they take as long as its compute); two callers (the server's
// batch workers) keep all three engines busy.

const (
	nSlots             = 4
	eventDisableTiming = 2
	hostAllocPortable  = 1
	captureThreadLocal = 1
	defaultChunk       = 512
	// Graphs are kept per (slot, rows); past this many, passes run eagerly
	// rather than instantiate more.
	maxGraphs = 3 * 512
)

// slot is one stage of the ring: device buffers for a chunk, pinned
// staging for callers whose memory is not from AllocHost, and the events
// that order its three steps.
type slot struct {
	dIn, dOut                 unsafe.Pointer // float32 [maxRows][In], [maxRows][Out]
	hIn, hOut                 []float32      // pinned staging
	inDone, computed, outDone unsafe.Pointer // events
	busy                      bool
	// dst receives hOut once outDone fires; nil when the answer was copied
	// straight into the caller's pinned memory.
	dst []float32
	// owner is the call whose chunk the slot holds.
	owner *call
}

// call is one Forward's chunks in flight; guarded by CUDA.mu.
type call struct {
	pending int   // chunks enqueued and not yet delivered
	err     error // set when the pipeline failed under it
}

type graphKey struct{ slot, rows int }

// initPipeline creates the copy streams and the slots' buffers and events.
func (c *CUDA) initPipeline() error {
	a := c.a
	// Handles go through locals: cgo checks the whole object behind a
	// pointer that is not written as &x.f, and CUDA holds Go pointers.
	for _, dst := range []*unsafe.Pointer{&c.h2d, &c.d2h} {
		var st unsafe.Pointer
		if err := a.rtErr("cudaStreamCreateWithFlags", C.c_stream_create(a.streamCreate, &st, streamNonBlocking)); err != nil {
			return err
		}
		*dst = st
	}
	m := c.m
	for i := range c.slots {
		s := &c.slots[i]
		var err error
		if s.dIn, err = c.alloc(c.maxRows * m.In * 4); err != nil {
			return err
		}
		if s.dOut, err = c.alloc(c.maxRows * m.Out * 4); err != nil {
			return err
		}
		if s.hIn, err = c.pinned(c.maxRows * m.In); err != nil {
			return err
		}
		if s.hOut, err = c.pinned(c.maxRows * m.Out); err != nil {
			return err
		}
		for _, dst := range []*unsafe.Pointer{&s.inDone, &s.computed, &s.outDone} {
			var e unsafe.Pointer
			if err := a.rtErr("cudaEventCreateWithFlags", C.c_stream_create(a.eventCreate, &e, eventDisableTiming)); err != nil {
				return err
			}
			*dst = e
			c.events = append(c.events, e)
		}
	}
	return nil
}

// pinned allocates n page-locked floats that the pipeline frees on Close.
func (c *CUDA) pinned(n int) ([]float32, error) {
	var p unsafe.Pointer
	if err := c.a.rtErr(fmt.Sprintf("cudaHostAlloc(%d bytes)", n*4), C.c_host_alloc(c.a.hostAlloc, &p, C.size_t(n*4), hostAllocPortable)); err != nil {
		return nil, err
	}
	c.hostBufs = append(c.hostBufs, p)
	return unsafe.Slice((*float32)(p), n), nil
}

// AllocHost returns n floats of page-locked host memory. Forward copies
// inputs from it and answers into it directly, with no staging copy; a
// server that parses requests into such buffers (and pools them) saves a
// pass over every row on the CPU. Free them with FreeHost.
func (c *CUDA) AllocHost(n int) ([]float32, error) {
	if n <= 0 {
		return nil, fmt.Errorf("cuda: AllocHost(%d): want a positive size", n)
	}
	var p unsafe.Pointer
	if err := c.a.rtErr(fmt.Sprintf("cudaHostAlloc(%d bytes)", n*4), C.c_host_alloc(c.a.hostAlloc, &p, C.size_t(n*4), hostAllocPortable)); err != nil {
		return nil, err
	}
	c.hostMu.Lock()
	c.hostRanges[p] = n * 4
	c.hostMu.Unlock()
	return unsafe.Slice((*float32)(p), n), nil
}

// FreeHost returns a buffer from AllocHost. The caller must not use it,
// or slices of it, afterwards.
func (c *CUDA) FreeHost(b []float32) error {
	if len(b) == 0 {
		return nil
	}
	p := unsafe.Pointer(&b[0])
	c.hostMu.Lock()
	_, ok := c.hostRanges[p]
	delete(c.hostRanges, p)
	c.hostMu.Unlock()
	if !ok {
		return fmt.Errorf("cuda: FreeHost: buffer at %p was not allocated by AllocHost (or was freed)", p)
	}
	return c.a.rtErr("cudaFreeHost", C.c_p(c.a.freeHost, p))
}

// isPinned says v lies inside one AllocHost buffer, so the GPU can copy
// it directly. A linear scan: a server keeps a handful of such buffers.
func (c *CUDA) isPinned(v []float32) bool {
	if len(v) == 0 {
		return false
	}
	lo := uintptr(unsafe.Pointer(&v[0]))
	hi := lo + uintptr(len(v)*4)
	c.hostMu.RLock()
	defer c.hostMu.RUnlock()
	for p, size := range c.hostRanges {
		if s := uintptr(p); lo >= s && hi <= s+uintptr(size) {
			return true
		}
	}
	return false
}

// chunkRows picks the rows per chunk: one pass up to 2×minChunk rows
// (a product of fewer rows loses more than the overlap within one request
// gains; overlap across requests needs no chunks); above, about four
// chunks of at least minChunk rows.
func (c *CUDA) chunkRows(rows int) int {
	if rows <= 2*c.minChunk {
		return min(rows, c.maxRows)
	}
	return min(c.maxRows, max(c.minChunk, (rows+3)/4))
}

// pipeline enqueues rows through the ring, then waits for this call's
// chunks with the lock released while the GPU works. Called and returns
// with c.mu held.
func (c *CUDA) pipeline(ctx context.Context, x []float32, rows int, out []float32) error {
	in, on := c.m.In, c.m.Out
	chunk := c.chunkRows(rows)
	cl := &call{}
	var stopped error
	for r0 := 0; r0 < rows; r0 += chunk {
		if stopped = ctx.Err(); stopped != nil {
			break // wait for what was enqueued: slots must not be left busy
		}
		n := min(chunk, rows-r0)
		i := c.next
		c.next = (c.next + 1) % nSlots
		if err := c.finish(&c.slots[i]); err != nil {
			return err
		}
		if err := c.enqueue(i, x[r0*in:(r0+n)*in], n, out[r0*on:(r0+n)*on], cl); err != nil {
			return err
		}
	}
	if err := c.await(cl); err != nil {
		return err
	}
	return stopped
}

// await waits for cl's chunks. It synchronises on a chunk's event with
// the lock released, then delivers it under the lock (unless another
// caller reusing the slot already has).
func (c *CUDA) await(cl *call) error {
	for cl.pending > 0 {
		var s *slot
		for i := range c.slots {
			if c.slots[i].busy && c.slots[i].owner == cl {
				s = &c.slots[i]
				break
			}
		}
		if s == nil {
			return fmt.Errorf("cuda pipeline: %d chunks pending with no slot holding them", cl.pending)
		}
		ev := s.outDone
		c.mu.Unlock()
		// If another caller delivers and reuses the slot meanwhile, this
		// waits for its chunk as well: longer, never wrong.
		err := c.a.rtErr("cudaEventSynchronize", C.c_p(c.a.eventSync, ev))
		c.mu.Lock()
		if cl.err != nil {
			return cl.err
		}
		if err != nil {
			return err
		}
		if s.busy && s.owner == cl {
			if err := c.finish(s); err != nil {
				return err
			}
		}
	}
	return cl.err
}

// enqueue stages one chunk into slot i and queues its three steps.
func (c *CUDA) enqueue(i int, x []float32, n int, out []float32, cl *call) error {
	a, s := c.a, &c.slots[i]
	src := unsafe.Pointer(unsafe.SliceData(x))
	if !c.isPinned(x) {
		parallelCopy(s.hIn[:len(x)], x)
		src = unsafe.Pointer(&s.hIn[0])
	}
	if err := a.rtErr("cudaMemcpyAsync(in)", C.c_memcpy_async(a.memcpyAsync, s.dIn, src, C.size_t(len(x)*4), h2d, c.h2d)); err != nil {
		return err
	}
	if err := c.order(s.inDone, c.h2d, c.stream); err != nil {
		return err
	}
	if err := c.compute(n, graphKey{i, n}, s.dIn, s.dOut); err != nil {
		return err
	}
	if err := c.order(s.computed, c.stream, c.d2h); err != nil {
		return err
	}
	s.dst = nil
	dst := unsafe.Pointer(unsafe.SliceData(out))
	if !c.isPinned(out) {
		s.dst = out
		dst = unsafe.Pointer(&s.hOut[0])
	}
	if err := a.rtErr("cudaMemcpyAsync(out)", C.c_memcpy_async(a.memcpyAsync, dst, s.dOut, C.size_t(len(out)*4), d2h, c.d2h)); err != nil {
		return err
	}
	if err := a.rtErr("cudaEventRecord", C.c_pp(a.eventRecord, s.outDone, c.d2h)); err != nil {
		return err
	}
	s.busy, s.owner = true, cl
	cl.pending++
	return nil
}

// order records ev on from and makes to wait for it.
func (c *CUDA) order(ev, from, to unsafe.Pointer) error {
	if err := c.a.rtErr("cudaEventRecord", C.c_pp(c.a.eventRecord, ev, from)); err != nil {
		return err
	}
	return c.a.rtErr("cudaStreamWaitEvent", C.c_ppu(c.a.streamWaitEvent, to, ev, 0))
}

// finish waits for a slot's chunk and delivers a staged answer to the
// call that owns it.
func (c *CUDA) finish(s *slot) error {
	if !s.busy {
		return nil
	}
	s.busy = false
	owner := s.owner
	s.owner = nil
	if err := c.a.rtErr("cudaEventSynchronize", C.c_p(c.a.eventSync, s.outDone)); err != nil {
		return err
	}
	if s.dst != nil {
		parallelCopy(s.dst, s.hOut[:len(s.dst)])
		s.dst = nil
	}
	if owner != nil {
		owner.pending--
	}
	return nil
}

// drain waits for every stream after a failed pass, so that no copy is
// left writing into a buffer the next pass reuses; every call with
// chunks in flight fails with err.
func (c *CUDA) drain(err error) {
	for _, st := range []unsafe.Pointer{c.h2d, c.stream, c.d2h} {
		if st != nil {
			C.c_p(c.a.streamSync, st)
		}
	}
	for i := range c.slots {
		s := &c.slots[i]
		if s.owner != nil {
			s.owner.err = fmt.Errorf("cuda pipeline failed under this request: %w", err)
			s.owner.pending = 0
		}
		s.busy, s.dst, s.owner = false, nil, nil
	}
}

// compute enqueues the plan for n rows, replaying a captured CUDA graph
// when graphs are on: one launch instead of one per product and kernel,
// which is most of the time of a small batch.
func (c *CUDA) compute(n int, k graphKey, in, out unsafe.Pointer) error {
	if !c.graphs {
		return c.run(n, in, out)
	}
	g, ok := c.graph[k]
	if !ok {
		if len(c.graph) >= maxGraphs {
			return c.run(n, in, out)
		}
		var err error
		if g, err = c.capture(n, in, out); err != nil {
			return err
		}
		c.graph[k] = g
	}
	return c.a.rtErr("cudaGraphLaunch", C.c_pp(c.a.graphLaunch, g, c.stream))
}

// capture records one pass into an executable graph. The plan's cuBLASLt
// heuristics run on the host, so they may happen during the capture.
func (c *CUDA) capture(n int, in, out unsafe.Pointer) (unsafe.Pointer, error) {
	a := c.a
	if err := a.rtErr("cudaStreamBeginCapture", C.c_p_i(a.beginCapture, c.stream, captureThreadLocal)); err != nil {
		return nil, err
	}
	runErr := c.run(n, in, out)
	var graph unsafe.Pointer
	endErr := a.rtErr("cudaStreamEndCapture", C.c_p_pp(a.endCapture, c.stream, &graph))
	if graph != nil {
		defer C.c_p(a.graphDestroy, graph)
	}
	if runErr != nil {
		return nil, fmt.Errorf("capturing a pass of %d rows: %w", n, runErr)
	}
	if endErr != nil {
		return nil, endErr
	}
	var exec unsafe.Pointer
	if err := a.rtErr("cudaGraphInstantiate", C.c_graph_inst(a.graphInstantiate, &exec, graph)); err != nil {
		return nil, err
	}
	return exec, nil
}

// parallelCopy copies large buffers with a few goroutines: one core's
// memcpy (about 10 GB/s) is slower than PCIe 5, so a single-threaded
// staging copy would bound the pipeline.
func parallelCopy(dst, src []float32) {
	const piece = 1 << 18 // floats (1 MiB)
	workers := min(runtime.GOMAXPROCS(0), 8, len(src)/piece)
	if workers <= 1 {
		copy(dst, src)
		return
	}
	per := (len(src) + workers - 1) / workers
	var wg sync.WaitGroup
	for i := 0; i < len(src); i += per {
		wg.Add(1)
		go func(i, j int) {
			defer wg.Done()
			copy(dst[i:j], src[i:j])
		}(i, min(i+per, len(src)))
	}
	wg.Wait()
}

// closePipeline frees graphs, events, streams and pinned memory.
func (c *CUDA) closePipeline() {
	a := c.a
	for _, g := range c.graph {
		C.c_p(a.graphExecDestroy, g)
	}
	c.graph = map[graphKey]unsafe.Pointer{}
	for _, e := range c.events {
		C.c_p(a.eventDestroy, e)
	}
	c.events = nil
	for _, p := range c.hostBufs {
		C.c_p(a.freeHost, p)
	}
	c.hostBufs = nil
	c.hostMu.Lock()
	for p := range c.hostRanges {
		C.c_p(a.freeHost, p)
	}
	clear(c.hostRanges)
	c.hostMu.Unlock()
	for _, st := range []*unsafe.Pointer{&c.h2d, &c.d2h} {
		if *st != nil {
			C.c_p(a.streamDestroy, *st)
			*st = nil
		}
	}
}

var _ backend.HostMemory = (*CUDA)(nil)
