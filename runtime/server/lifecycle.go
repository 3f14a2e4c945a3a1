package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// ErrForced says a second signal cut the drain short.
var ErrForced = errors.New("stopped without draining: second signal")

// Run listens on cfg.Addr until stop ends, then drains: readiness turns
// false, requests in flight finish, and the batcher empties its queue.
// force ending during the drain closes every connection at once.
func (s *Server) Run(stop, force context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	return s.ServeUntil(stop, force, ln)
}

// Serve is Run on a listener the caller opened, without a forced stop.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	return s.ServeUntil(ctx, context.Background(), ln)
}

// ServeUntil serves on ln until stop ends, then drains unless force ends.
func (s *Server) ServeUntil(stop, force context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.handler,
		ReadTimeout:       s.cfg.ReadTimeout,
		ReadHeaderTimeout: s.cfg.HeaderTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	capped := newCapListener(ln, s.cfg.MaxConns, s.log)
	capped.overflow = s.serveOverflow
	capped.open = s.met.conns
	var served net.Listener = capped
	var fast *fastListener
	if !s.cfg.NetHTTPOnly {
		fast = newFastListener(capped, s)
		served = fast
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(served) }()
	s.log.Info("serving", "addr", ln.Addr().String(), "model", s.m.Name, "device", s.be.Device().Kind, "batching", s.cfg.Batching,
		"max_conns", s.cfg.MaxConns, "fast_path", fast != nil, "max_body_bytes", s.cfg.MaxBodyBytes, "allowed_hosts", s.hosts.String())
	select {
	case err := <-errc:
		// Handlers may still be running, so the batcher stays open: the
		// process is about to exit with this error anyway.
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	case <-stop.Done():
	}
	s.ready.Store(false)
	s.drain.Store(true)
	s.met.ready.Set(0)
	// Keep-alive clients are told Connection: close from now on and idle
	// connections are closed, so clients reconnect (to another replica)
	// before the listener goes away instead of failing on a dead socket.
	hs.SetKeepAlivesEnabled(false)
	if fast != nil {
		fast.closeIdle(false)
	}
	s.log.Info("draining: readiness is false; a second signal stops at once", "delay", s.cfg.DrainDelay, "timeout", s.cfg.ShutdownTimeout)
	select {
	case <-time.After(s.cfg.DrainDelay):
	case <-force.Done():
		return s.forced(hs, fast)
	}
	sctx, cancel := context.WithTimeout(force, s.cfg.ShutdownTimeout)
	defer cancel()
	err := hs.Shutdown(sctx)
	if fast != nil && err == nil {
		err = fast.shutdown(sctx)
	}
	if force.Err() != nil {
		return s.forced(hs, fast)
	}
	s.shutdownBatcher()
	if err != nil {
		return fmt.Errorf("drain: requests still running after %s: %w", s.cfg.ShutdownTimeout, err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	s.log.Info("drained; stopped")
	return nil
}

// forced closes every connection without waiting. The batcher stays open:
// handlers may still be running, and the process is about to exit.
func (s *Server) forced(hs *http.Server, fast *fastListener) error {
	s.log.Warn("second signal: closing every connection without draining")
	hs.Close()
	if fast != nil {
		fast.closeAll()
	}
	return ErrForced
}

func (s *Server) shutdownBatcher() {
	if s.batch != nil {
		s.closeOnce.Do(s.batch.close)
	}
}

// rateLimit lets one log line through per second, so an attacker who
// triggers a warning on every request cannot flood the log.
type rateLimit struct{ last atomic.Int64 }

func (r *rateLimit) allow() bool {
	now := time.Now().UnixNano()
	last := r.last.Load()
	return now-last >= int64(time.Second) && r.last.CompareAndSwap(last, now)
}
