package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The fast path serves keep-alive v2 binary inference over raw HTTP/1.1.
// net/http costs a 1-row client about three reads and two writes per
// request through 4 KiB buffers (bench/runtime/results/issue16-2026-12-06.md);
// here a connection has one read buffer that holds a 1-row request whole,
// and each answer goes out in one write. fastListener reads each
// connection's requests itself until one is not the kind parseHead
// accepts; then it hands the connection, with every byte it had read, to
// net/http, which serves the rest of it. --net-http-only turns it off.

// fastReadBuf holds a 1-row request of the 1024-input reference model
// (4.3 KB) with its head, and the start of the next when pipelined.
const fastReadBuf = 8 << 10

// answerRoom is the space left before an answer's body for its head, so
// head and body go out in one write without copying the body.
const answerRoom = 256

// Connection states, for a drain: only an idle connection is closed.
const (
	connIdle int32 = iota
	connNew        // waiting for its first request: idle only to a shutdown
	connActive
	connClosing
)

// fastListener is the listener net/http serves: it accepts connections
// itself and gives net/http only those handed over.
type fastListener struct {
	net.Listener
	s         *Server
	handed    chan net.Conn
	closed    chan struct{} // Close was called
	done      chan struct{} // the accept loop ended with err
	err       error
	closeOnce sync.Once
	mu        sync.Mutex
	conns     map[*fastConn]struct{}
	// metrics of the served endpoints
	v2, pred endpointMetrics
}

func newFastListener(ln net.Listener, s *Server) *fastListener {
	l := &fastListener{Listener: ln, s: s, handed: make(chan net.Conn), closed: make(chan struct{}), done: make(chan struct{}),
		conns: map[*fastConn]struct{}{}, v2: newEndpointMetrics(s, "v2_infer", s.v2Fail),
		pred: newEndpointMetrics(s, "predict", func(w http.ResponseWriter, err error) { s.fail(w, "predict", err) })}
	go l.acceptLoop()
	return l
}

func (l *fastListener) acceptLoop() {
	var backoff time.Duration
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			// As net/http does: a temporary error (EMFILE) is retried.
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				select {
				case <-time.After(backoff):
					continue
				case <-l.closed:
				}
			}
			l.err = err
			close(l.done)
			return
		}
		backoff = 0
		fc := &fastConn{c: c, raw: connReader{c: c}}
		fc.br = bufio.NewReaderSize(&fc.raw, fastReadBuf)
		fc.state.Store(connNew)
		l.mu.Lock()
		l.conns[fc] = struct{}{}
		l.mu.Unlock()
		go l.serve(fc)
	}
}

func isTemporary(err error) bool {
	t, ok := err.(interface{ Temporary() bool })
	return ok && t.Temporary()
}

// Accept gives net/http the connections handed over.
func (l *fastListener) Accept() (net.Conn, error) {
	select {
	case <-l.closed:
		return nil, net.ErrClosed
	default:
	}
	select {
	case c := <-l.handed:
		return c, nil
	case <-l.done:
		return nil, l.err
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *fastListener) Close() error {
	err := net.ErrClosed
	l.closeOnce.Do(func() {
		close(l.closed)
		err = l.Listener.Close()
	})
	return err
}

// shutdown closes idle connections until none is left, as
// http.Server.Shutdown does with its own.
func (l *fastListener) shutdown(ctx context.Context) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		if l.closeIdle(true) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// closeIdle closes the connections waiting for a next request (and with
// fresh, those waiting for a first) and says how many are open.
func (l *fastListener) closeIdle(fresh bool) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	for fc := range l.conns {
		if fc.state.CompareAndSwap(connIdle, connClosing) || fresh && fc.state.CompareAndSwap(connNew, connClosing) {
			fc.c.Close()
		}
	}
	return len(l.conns)
}

// closeAll closes every connection the fast path holds.
func (l *fastListener) closeAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for fc := range l.conns {
		fc.state.Store(connClosing)
		fc.c.Close()
	}
}

// fastConn is one connection while the fast path reads it.
type fastConn struct {
	c     net.Conn
	raw   connReader // what br reads: c, after a byte the watch read
	br    *bufio.Reader
	state atomic.Int32
	host  []byte // the last Host found allowed, so the check runs once
	head  []byte // the current request's head, kept for a handover
	watch clientWatch
}

// connReader reads the byte a client watch took from the connection, then
// the connection.
type connReader struct {
	c       net.Conn
	pending [1]byte
	has     bool
}

func (r *connReader) Read(p []byte) (int, error) {
	if r.has && len(p) > 0 {
		p[0] = r.pending[0]
		r.has = false
		return 1, nil
	}
	return r.c.Read(p)
}

// clientWatch cancels a request whose client went away, as net/http's
// background read does for its handlers. A request that finishes within
// clientWatchDelay is never watched, so the common one pays for no read
// and no goroutine; a longer one (queued behind a full batcher, a large
// batch) gets a one-byte read on its connection, and an EOF or a reset
// there cancels it. A byte that arrives (the next pipelined request) is
// kept for br.
type clientWatch struct {
	timer  *time.Timer
	cancel context.CancelFunc
	done   chan struct{} // the watch's read returned
}

// watchClient returns the context a request computes under (with the
// request timeout, which infer would add) and the func that ends the
// watch; call that before reading the connection again.
func (fc *fastConn) watchClient(timeout time.Duration) (context.Context, func()) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	if fc.br.Buffered() > 0 {
		// The client already sent more: it was there after this
		// request, and a read now would take its next one.
		return ctx, cancel
	}
	w := &fc.watch
	w.cancel = cancel
	if w.timer == nil {
		w.done = make(chan struct{}, 1)
		w.timer = time.AfterFunc(clientWatchDelay, fc.readWhileBusy)
	} else {
		w.timer.Reset(clientWatchDelay)
	}
	return ctx, fc.endWatch
}

// readWhileBusy runs on the watch's timer: it waits for the client's next
// byte or its leaving, until endWatch cuts the read short.
func (fc *fastConn) readWhileBusy() {
	n, err := fc.c.Read(fc.raw.pending[:])
	if n == 1 {
		fc.raw.has = true
	} else if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		fc.watch.cancel()
	}
	fc.watch.done <- struct{}{}
}

func (fc *fastConn) endWatch() {
	w := &fc.watch
	if !w.timer.Stop() {
		// The read started (or is about to): a deadline in the past ends
		// it, and its result is seen once it has returned.
		fc.c.SetReadDeadline(aLongTimeAgo)
		<-w.done
	}
	w.cancel()
}

// aLongTimeAgo is a read deadline that has passed: it ends a blocked read.
var aLongTimeAgo = time.Unix(1, 0)

// serve reads requests from one connection until it closes or is handed
// over.
func (l *fastListener) serve(fc *fastConn) {
	s := l.s
	handed := false
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("fast path panic", "panic", p)
			handed = false
		}
		l.mu.Lock()
		delete(l.conns, fc)
		l.mu.Unlock()
		if !handed {
			fc.c.Close()
		}
	}()
	wait, state := s.cfg.HeaderTimeout, connNew // net/http's wait for a first request
	for {
		if fc.br.Buffered() == 0 {
			fc.state.Store(state)
			// A drain closes the idle connections once, when it starts;
			// this one went idle after.
			if state == connIdle && s.drain.Load() {
				return
			}
			fc.c.SetReadDeadline(time.Now().Add(wait))
			if _, err := fc.br.Peek(1); err != nil {
				return
			}
			if !fc.state.CompareAndSwap(state, connActive) {
				return // closed by a drain
			}
		}
		wait, state = s.cfg.IdleTimeout, connIdle
		t0 := time.Now()
		fc.c.SetReadDeadline(t0.Add(min(s.cfg.HeaderTimeout, s.cfg.ReadTimeout)))
		h, res, err := readHead(fc.br)
		if err != nil {
			return
		}
		if res == headFallback || !l.servable(fc, &h) {
			handed = l.handover(fc, nil)
			return
		}
		fc.c.SetReadDeadline(t0.Add(s.cfg.ReadTimeout))
		// A switch, not a func value: through one, h would escape to the heap.
		var keep, over bool
		var pre []byte
		switch h.kind {
		case kindPredict:
			keep, pre, over = l.predict(fc, &h)
		default:
			keep, pre, over = l.infer(fc, &h)
		}
		if over {
			handed = l.handover(fc, pre)
			return
		}
		if !keep {
			return
		}
	}
}

// readHead reads until the buffer holds a whole head or parseHead
// refuses it; a head larger than the buffer is net/http's.
func readHead(br *bufio.Reader) (reqHead, headResult, error) {
	for {
		b, _ := br.Peek(br.Buffered())
		h, res := parseHead(b)
		if res != headIncomplete {
			return h, res, nil
		}
		if len(b) == br.Size() {
			return h, headFallback, nil
		}
		if _, err := br.Peek(len(b) + 1); err != nil {
			return h, 0, err
		}
	}
}

// servable checks what parseHead cannot: the model, the Host, the limits.
func (l *fastListener) servable(fc *fastConn, h *reqHead) bool {
	s := l.s
	if h.kind == kindV2Infer && string(h.name) != s.m.Name || h.contentLength > s.cfg.MaxBodyBytes {
		return false
	}
	if !bytes.Equal(h.host, fc.host) {
		if !s.hosts.allows(string(h.host)) {
			return false
		}
		fc.host = append(fc.host[:0], h.host...)
	}
	return true
}

// handover gives the connection to net/http, which reads pre, then what
// the buffer holds, then the socket. It reports whether net/http took it.
func (l *fastListener) handover(fc *fastConn, pre []byte) bool {
	fc.c.SetDeadline(time.Time{})
	pc := &prefixConn{Conn: fc.c, pre: pre, br: fc.br, raw: &fc.raw}
	select {
	case l.handed <- pc:
		return true
	case <-l.closed:
		return false // net/http has stopped accepting: shutting down
	}
}

// prefixConn reads pre, then br's buffered bytes, then the connection
// through raw (which may hold a byte br has not read).
type prefixConn struct {
	net.Conn
	pre []byte
	br  *bufio.Reader
	raw io.Reader
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.pre) > 0 {
		n := copy(p, c.pre)
		c.pre = c.pre[n:]
		return n, nil
	}
	if c.br != nil {
		if c.br.Buffered() > 0 {
			return c.br.Read(p)
		}
		c.br = nil
	}
	return c.raw.Read(p)
}

// endpointMetrics are one endpoint's counters, looked up once, and the
// error writer of its protocol (v2's {"error"}, FastAPI's {"detail"}).
type endpointMetrics struct {
	name     string
	ok       prometheus.Counter
	hist     prometheus.Observer
	writeErr func(http.ResponseWriter, error)
}

func newEndpointMetrics(s *Server, name string, writeErr func(http.ResponseWriter, error)) endpointMetrics {
	return endpointMetrics{name: name, ok: s.met.requests.WithLabelValues(name, "200"), hist: s.met.total.WithLabelValues(name), writeErr: writeErr}
}

// readBody reads the request's body into a pooled buffer, holding the
// in-flight body budget for a large one as net/http's path does. Without
// a buffer, the request is over: answered (ok false) or net/http's (over).
func (l *fastListener) readBody(fc *fastConn, h *reqHead, em *endpointMetrics, start time.Time) (rb *reqBuf, release func(), keep, over bool) {
	s := l.s
	cl := h.contentLength
	release = noRelease
	if cl > smallBody {
		if !s.inflight.TryAcquire(cl) {
			return nil, nil, false, true // net/http waits for room
		}
		release = func() { s.inflight.Release(cl) }
	}
	head, _ := fc.br.Peek(h.n)
	fc.head = append(fc.head[:0], head...)
	fc.br.Discard(h.n)
	rb = s.getBuf()
	rb.body = grow(rb.body, int(cl))
	if _, err := io.ReadFull(fc.br, rb.body); err != nil {
		release()
		s.putBuf(rb)
		l.fail(fc, em, start, bodyError(err, s.cfg.MaxBodyBytes), true)
		return nil, nil, false, false
	}
	return rb, release, false, false
}

// handBack gives a request the fast path read whole back to net/http: its
// head and body go first, then whatever follows in the buffer.
func (fc *fastConn) handBack(s *Server, rb *reqBuf, release func()) []byte {
	release()
	pre := append(append([]byte(nil), fc.head...), rb.body...)
	s.putBuf(rb)
	return pre
}

// infer and predict serve one request whose head is in the buffer. keep
// says the connection stays open; over says net/http is to answer the
// request instead, from pre and the buffer, because the fast path would
// answer it differently (errors in the request are net/http's to word).
func (l *fastListener) infer(fc *fastConn, h *reqHead) (keep bool, pre []byte, over bool) {
	s := l.s
	start := time.Now()
	rb, release, keep, over := l.readBody(fc, h, &l.v2, start)
	if rb == nil {
		return keep, nil, over
	}
	hd, x, err := s.decodeTensor(h.jsonLen, rb)
	if err != nil {
		return false, fc.handBack(s, rb, release), true
	}
	s.met.inflight.Inc()
	defer s.met.inflight.Dec()
	defer release() // until the answer is written, as net/http's path does
	out := grow(rb.out, hd.rows*s.m.Out)
	rb.out = out
	ctx, endWatch := fc.watchClient(s.cfg.RequestTimeout)
	err = s.inferWithin(ctx, x, hd.rows, out)
	endWatch()
	if err != nil {
		// The batcher may still use x and out after a timeout: rb is
		// dropped, not pooled.
		return l.fail(fc, &l.v2, start, err, false), nil, false
	}
	if err := checkFinite(out, s.m.Out); err != nil {
		s.putBuf(rb)
		return l.fail(fc, &l.v2, start, err, false), nil, false
	}
	resp, jsonLenOut := s.v2Answer(grow(rb.resp, answerRoom), hd, out)
	if hd.binaryOut {
		return l.answer(fc, rb, resp, "\r\nContent-Type: application/octet-stream\r\n"+binaryHeader+": ", jsonLenOut-answerRoom, &l.v2, start), nil, false
	}
	return l.answer(fc, rb, resp, "\r\nContent-Type: application/json", -1, &l.v2, start), nil, false
}

// predict serves the seed's /predict: JSON rows in, JSON rows out. A body
// the parser refuses goes to net/http, which words the error.
func (l *fastListener) predict(fc *fastConn, h *reqHead) (keep bool, pre []byte, over bool) {
	s := l.s
	start := time.Now()
	rb, release, keep, over := l.readBody(fc, h, &l.pred, start)
	if rb == nil {
		return keep, nil, over
	}
	x, rows, batched, err := parseRows(rb.body, s.m.In, s.valueBuf(rb), s.cfg.MaxRows)
	if err != nil || rows == 0 {
		return false, fc.handBack(s, rb, release), true
	}
	rb.x = x
	s.met.inflight.Inc()
	defer s.met.inflight.Dec()
	defer release()
	out := grow(rb.out, rows*s.m.Out)
	rb.out = out
	ctx, endWatch := fc.watchClient(s.cfg.RequestTimeout)
	err = s.inferWithin(ctx, x, rows, out)
	endWatch()
	if err != nil {
		return l.fail(fc, &l.pred, start, err, false), nil, false
	}
	if err := checkFinite(out, s.m.Out); err != nil {
		s.putBuf(rb)
		return l.fail(fc, &l.pred, start, err, false), nil, false
	}
	b := append(grow(rb.resp, answerRoom), `{"prediction":`...)
	b = appendRows(b, out, rows, s.m.Out, batched)
	b = append(b, "}\n"...)
	return l.answer(fc, rb, b, "\r\nContent-Type: application/json", -1, &l.pred, start), nil, false
}

// answer writes a 200 whose body follows answerRoom bytes of resp, head
// and body in one write, with the headers net/http would send in its
// order; contentType ends the head's fields before Date, and binLen >= 0
// is the value of the binary header it names last. It says whether to
// keep the connection.
func (l *fastListener) answer(fc *fastConn, rb *reqBuf, resp []byte, contentType string, binLen int, em *endpointMetrics, start time.Time) bool {
	s := l.s
	drain := s.drain.Load()
	var ah [answerRoom]byte
	a := append(ah[:0], "HTTP/1.1 200 OK\r\n"...)
	if drain {
		a = append(a, "Connection: close\r\n"...)
	}
	a = append(a, "Content-Length: "...)
	a = strconv.AppendInt(a, int64(len(resp)-answerRoom), 10)
	a = append(a, contentType...)
	if binLen >= 0 {
		a = strconv.AppendInt(a, int64(binLen), 10)
	}
	a = append(a, "\r\nDate: "...)
	a = s.date.append(a)
	a = append(a, "\r\n\r\n"...)
	msg := resp[answerRoom-len(a):]
	copy(msg, a)
	fc.c.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
	_, werr := fc.c.Write(msg)
	rb.resp = resp
	s.putBuf(rb)
	em.ok.Inc()
	s.fastServed.Add(1)
	em.hist.Observe(time.Since(start).Seconds())
	return werr == nil && !drain
}

// fail answers err as net/http's path does, closing the connection when
// closing is set or the server is draining; it says whether to keep it.
func (l *fastListener) fail(fc *fastConn, em *endpointMetrics, start time.Time, err error, closing bool) bool {
	s := l.s
	w := &answerWriter{h: http.Header{}}
	if s.drain.Load() {
		w.h.Set("Connection", "close")
		closing = true
	}
	em.writeErr(w, err)
	b := w.answer(closing && w.h.Get("Connection") == "")
	fc.c.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
	_, werr := fc.c.Write(b)
	s.met.requests.WithLabelValues(em.name, strconv.Itoa(w.code)).Inc()
	em.hist.Observe(time.Since(start).Seconds())
	return werr == nil && !closing
}

// answerWriter collects an answer to write as net/http would: the
// handler's headers sorted, then Date, then its own Connection: close.
type answerWriter struct {
	h    http.Header
	code int
	body []byte
}

func (w *answerWriter) Header() http.Header { return w.h }
func (w *answerWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}
func (w *answerWriter) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.body = append(w.body, b...)
	return len(b), nil
}

func (w *answerWriter) answer(close bool) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\n", w.code, http.StatusText(w.code))
	w.h.Write(&b)
	b.WriteString("Date: ")
	b.Write(time.Now().UTC().AppendFormat(nil, http.TimeFormat)) // error answers are rare: no cache
	b.WriteString("\r\n")
	if close {
		b.WriteString("Connection: close\r\n")
	}
	b.WriteString("\r\n")
	b.Write(w.body)
	return b.Bytes()
}

// dateCache holds the Date header's value for the current second: formatting
// it per answer was one of the fast path's allocations. One per Server, so
// servers in one process (tests) share nothing.
type dateCache struct{ p atomic.Pointer[datedSecond] }

type datedSecond struct {
	unix int64
	text []byte
}

func (c *dateCache) append(b []byte) []byte {
	now := time.Now()
	d := c.p.Load()
	if d == nil || d.unix != now.Unix() {
		d = &datedSecond{unix: now.Unix(), text: now.UTC().AppendFormat(nil, http.TimeFormat)}
		c.p.Store(d)
	}
	return append(b, d.text...)
}

// clientWatchDelay is how long a request computes before the fast path
// starts watching its connection for the client leaving.
const clientWatchDelay = 10 * time.Millisecond
