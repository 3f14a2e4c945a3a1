package server

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// overflowLane is how many connections over the cap are answered at once
// (liveness, or a 503); beyond it the excess is closed unanswered.
const overflowLane = 32

// defaultMaxConns keeps connections well below the open-files limit, so
// the server still has descriptors for the overflow lane, the model files
// and its logs when a client opens connections until accept fails. It
// stops at 16384: each connection costs a goroutine and buffers (~16 KiB,
// so 256 MiB at the ceiling), and a model server behind a load balancer
// needs far fewer.
func defaultMaxConns(limit uint64) int {
	reserve := max(limit/8, 96)
	if limit <= reserve+overflowLane {
		return 1
	}
	return int(min(limit-reserve-overflowLane, 16384))
}

// openFilesLimit is RLIMIT_NOFILE's soft limit, which Go raises to the
// hard limit at start.
func openFilesLimit() uint64 {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 1024
	}
	return r.Cur
}

// capListener hands at most n connections to the HTTP server at once.
// Unlike netutil.LimitListener it keeps accepting at the cap: a liveness
// probe on a connection over the cap is still answered, and anything else
// gets a quick 503 instead of waiting in the kernel's backlog.
type capListener struct {
	net.Listener
	slots    chan struct{}
	lane     chan struct{}
	log      *slog.Logger
	overflow func(net.Conn) // answers a connection over the cap
	open     prometheus.Gauge
	warnCap  rateLimit
	warnErr  rateLimit
}

func newCapListener(ln net.Listener, n int, log *slog.Logger) *capListener {
	return &capListener{Listener: ln, slots: make(chan struct{}, n), lane: make(chan struct{}, overflowLane), log: log,
		overflow: func(c net.Conn) { c.Close() }}
}

func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			// net/http retries temporary errors (EMFILE) with a backoff
			// and logs them at its ErrorLog's level, which is debug here.
			if !errors.Is(err, net.ErrClosed) && l.warnErr.allow() {
				l.log.Warn("accepting a connection failed; at the open-files limit?", "err", err, "max_conns", cap(l.slots))
			}
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			if l.open != nil {
				l.open.Inc()
			}
			return &capConn{Conn: c, release: l.release}, nil
		default:
		}
		if l.warnCap.allow() {
			l.log.Warn("connection cap reached: answering the excess with 503 (liveness still answers)", "max_conns", cap(l.slots))
		}
		select {
		case l.lane <- struct{}{}:
			go func() {
				defer func() { <-l.lane }()
				l.overflow(c)
			}()
		default:
			c.Close()
		}
	}
}

func (l *capListener) release() {
	<-l.slots
	if l.open != nil {
		l.open.Dec()
	}
}

type capConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *capConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// serveOverflow answers one request on a connection over the cap and
// closes it: liveness says live (the process is fine, only busy), anything
// else 503 with Retry-After.
func (s *Server) serveOverflow(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	br := bufio.NewReaderSize(c, 4<<10)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	if req.ContentLength > 0 && req.ContentLength <= 64<<10 {
		// Read what the client sends, so closing does not reset the
		// connection before it reads the answer.
		io.Copy(io.Discard, req.Body)
	}
	code, field, msg := http.StatusServiceUnavailable, "detail", fmt.Sprintf("server at its cap of %d connections (the server's --max-conns); retry", s.cfg.MaxConns)
	if strings.HasPrefix(req.URL.Path, "/v2") {
		field = "error"
	}
	body, _ := json.Marshal(map[string]string{field: msg})
	if req.URL.Path == "/v2/health/live" && (req.Method == http.MethodGet || req.Method == http.MethodHead) {
		code, body = http.StatusOK, []byte(`{"live":true}`)
	}
	s.met.requests.WithLabelValues("overflow", fmt.Sprint(code)).Inc()
	retry := ""
	if code == http.StatusServiceUnavailable {
		retry = "Retry-After: 1\r\n"
	}
	fmt.Fprintf(c, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%sConnection: close\r\n\r\n%s\n",
		code, http.StatusText(code), len(body)+1, retry, body)
}
