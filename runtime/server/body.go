package server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
)

// bytesPerValue is the JSON budget per input number in the derived body
// limit: the longest float32 ("-1.17549435e-38") and the float64 digits
// Python prints for it ("-1.1754943508222875e-38") fit with their
// separators.
const bytesPerValue = 32

// bodyLimit is the default --max-body-bytes: one full batch (maxBatch
// rows of in numbers) as JSON, or a request of maxRows rows as binary
// FP32, whichever is larger, plus room for the v2 envelope. Following the
// batch rather than --max-rows keeps the memory a few bodies can pin in
// proportion to what one pass computes (8 MiB of JSON for the 1024-input
// reference MLP, not 128 MiB); a larger JSON request can still be sent
// as several, or raise the flag.
func bodyLimit(in, maxBatch, maxRows int) int64 {
	js := int64(in) * int64(maxBatch) * bytesPerValue
	bin := int64(in) * int64(maxRows) * 4
	return max(js, bin) + 64<<10
}

// smallBody is the largest body read outside the budget of bytes in
// flight.
const smallBody = 64 << 10

func noRelease() {}

// reqBuf is one request's buffers: its body, its values, its outputs and
// its answer. They are pooled up to the size of a full batch (see
// poolLimits), so a busy server reuses them instead of allocating and
// clearing megabytes per request; larger ones are left to the collector
// instead of pinning memory.
type reqBuf struct {
	body []byte
	x    []float32
	out  []float32
	resp []byte
}

// poolLimits are the largest buffers kept in the pool: a full batch of
// binary input (and its answer), at least 64 KiB.
type poolLimits struct{ body, x, out int }

func newPoolLimits(in, out, maxBatch int) poolLimits {
	return poolLimits{
		body: max(in*maxBatch*4+4<<10, 64<<10),
		x:    max(in*maxBatch, 16<<10),
		out:  max(out*maxBatch, 16<<10),
	}
}

func (s *Server) getBuf() *reqBuf {
	if rb, ok := s.bufs.Get().(*reqBuf); ok {
		return rb
	}
	return &reqBuf{body: make([]byte, 0, 4096), x: make([]float32, 0, 256)}
}

func (s *Server) putBuf(rb *reqBuf) {
	l := s.pool
	if cap(rb.body) > l.body || cap(rb.x) > l.x || cap(rb.out) > l.out || cap(rb.resp) > l.body {
		return
	}
	s.bufs.Put(rb)
}

// readBody reads the body into rb within the server's budget of bytes in
// flight; release returns the reservation once the body is no longer
// needed. A body with Content-Length is read into one buffer of its size;
// one without reserves the whole limit and grows by doubling, so reading
// leaves at most as much garbage as the body.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, rb *reqBuf) (release func(), err error) {
	limit := s.cfg.MaxBodyBytes
	if r.ContentLength > limit {
		return nil, badInput(http.StatusRequestEntityTooLarge, "body of %d bytes is over the limit of %d (the server's --max-body-bytes)", r.ContentLength, limit)
	}
	reserve := limit
	if r.ContentLength >= 0 {
		reserve = max(r.ContentLength, 1)
	}
	release = noRelease
	// Small bodies skip the budget: they are bounded by the connection
	// cap (--max-conns × 64 KiB), and an ordinary request must not queue
	// behind large uploads.
	if reserve > smallBody {
		if err := s.reserve(r.Context(), reserve); err != nil {
			return nil, err
		}
		release = func() { s.inflight.Release(reserve) }
	}
	body := http.MaxBytesReader(w, r.Body, limit)
	if r.ContentLength >= 0 {
		buf := rb.body[:0]
		if r.ContentLength > int64(cap(buf)) {
			buf = make([]byte, 0, r.ContentLength)
		}
		buf = buf[:r.ContentLength]
		if _, err := io.ReadFull(body, buf); err != nil {
			release()
			return nil, bodyError(err, limit)
		}
		rb.body = buf
		return release, nil
	}
	buf, err := readChunks(body, rb.body[:0])
	if err != nil {
		release()
		return nil, bodyError(err, limit)
	}
	rb.body = buf
	return release, nil
}

// chunk is the unit a body of unknown length is read in; chunks come from
// a pool, so reading leaves no garbage beyond the one buffer of the body's
// size that the chunks are copied into.
const chunk = 64 << 10

var chunks = sync.Pool{New: func() any { return new([chunk]byte) }}

func readChunks(r io.Reader, dst []byte) ([]byte, error) {
	var parts []*[chunk]byte
	defer func() {
		for _, p := range parts {
			chunks.Put(p)
		}
	}()
	total, last := 0, 0
	for eof := false; !eof; {
		p := chunks.Get().(*[chunk]byte)
		parts = append(parts, p)
		n := 0
		for n < chunk && !eof {
			m, err := r.Read(p[n:])
			n += m
			if err == io.EOF {
				eof = true
			} else if err != nil {
				return nil, err
			}
		}
		total, last = total+n, n
	}
	if total > cap(dst) {
		dst = make([]byte, 0, total)
	}
	for i, p := range parts {
		n := chunk
		if i == len(parts)-1 {
			n = last
		}
		dst = append(dst, p[:n]...)
	}
	return dst, nil
}

// reserve waits for room in the budget of bytes in flight, as long as the
// request timeout allows.
func (s *Server) reserve(ctx context.Context, n int64) error {
	if s.inflight.TryAcquire(n) {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	if err := s.inflight.Acquire(ctx, n); err != nil {
		return errBodyBudget
	}
	return nil
}

var errBodyBudget = errors.New("server busy: too many request bodies in flight (the server's --max-inflight-bytes); retry")

// bodyError names what went wrong without the error's text, which carries
// the socket addresses.
func bodyError(err error, limit int64) error {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return badInput(http.StatusRequestEntityTooLarge, "body is over the limit of %d bytes (the server's --max-body-bytes)", limit)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return badInput(http.StatusRequestTimeout, "the body did not arrive within the read timeout (the server's --read-timeout)")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badInput(http.StatusBadRequest, "the body ended before its Content-Length")
	}
	return badInput(http.StatusBadRequest, "reading the body failed")
}

// crossSiteType reports a content type a browser sends cross-site without
// a CORS preflight (a form or text/plain): a web page could make the
// server run inference on its visitor's behalf. JSON and binary tensors
// never use them.
func crossSiteType(ct string) bool {
	if ct == "" || ct == "application/json" {
		return false
	}
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.TrimSpace(mt)
	return strings.EqualFold(mt, "application/x-www-form-urlencoded") || strings.EqualFold(mt, "multipart/form-data") || strings.EqualFold(mt, "text/plain")
}

func refuseCrossSite(r *http.Request) error {
	if ct := r.Header.Get("Content-Type"); crossSiteType(ct) {
		return badInput(http.StatusUnsupportedMediaType, "Content-Type %q is not accepted: send application/json (forms and text/plain are refused so a web page cannot post here cross-site)", ct)
	}
	return nil
}
