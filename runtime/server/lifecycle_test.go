package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Item 5: during the drain delay every answer says Connection: close, so
// keep-alive clients move to another replica before the listener closes.
func TestDrainSaysConnectionClose(t *testing.T) {
	s := newServer(t, Config{DrainDelay: 2 * time.Second}, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	get := func() *http.Response {
		fmt.Fprintf(c, "POST /predict HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n%s", len(seedRow), seedRow)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	if resp := get(); resp.Close {
		t.Fatalf("Connection: close before the drain")
	}
	cancel()
	time.Sleep(100 * time.Millisecond)
	// A fresh connection during the delay is still served, and told to go.
	resp, err := http.Post("http://"+ln.Addr().String()+"/predict", "application/json", strings.NewReader(seedRow))
	if err != nil {
		t.Fatalf("request during the drain delay: %v", err)
	}
	resp.Body.Close()
	// net/http's client moves Connection: close into resp.Close.
	if resp.StatusCode != 200 || !resp.Close {
		t.Errorf("during the drain delay: %d, Connection: close %v; want 200 with Connection: close", resp.StatusCode, resp.Close)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
}

// Item 5: a second signal during the drain forces the server down now.
func TestForcedStop(t *testing.T) {
	s := newServer(t, Config{DrainDelay: time.Minute}, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stop, stopNow := context.WithCancel(context.Background())
	force, forceNow := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.ServeUntil(stop, force, ln) }()
	stopNow()
	time.Sleep(50 * time.Millisecond)
	forceNow()
	select {
	case err := <-served:
		if !errors.Is(err, ErrForced) {
			t.Errorf("forced stop returned %v; want ErrForced", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a forced stop waited for the drain delay")
	}
}

// Item 6: connections beyond the cap do not starve liveness, and the
// excess is answered instead of waiting in the kernel's backlog.
func TestConnectionCap(t *testing.T) {
	var logs syncBuffer
	s := newServer(t, Config{MaxConns: 4, HeaderTimeout: time.Minute}, nil)
	s.log = slog.New(slog.NewTextHandler(&logs, nil))
	base := serve(t, s)
	addr := strings.TrimPrefix(base, "http://")
	// Four connections that send nothing hold every slot.
	for range 4 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	time.Sleep(50 * time.Millisecond)
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get(base + "/v2/health/live")
	if err != nil {
		t.Fatalf("liveness with every connection slot taken: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("liveness at the connection cap: %d", resp.StatusCode)
	}
	resp, err = client.Post(base+"/predict", "application/json", strings.NewReader(seedRow))
	if err != nil {
		t.Fatalf("predict at the connection cap: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(b), "connections") {
		t.Errorf("predict at the connection cap: %d %s; want 503 with Retry-After", resp.StatusCode, b)
	}
	if !strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("reaching the connection cap logged no warning: %q", logs.String())
	}
}

// Item 6: accept errors (EMFILE at the open-files limit) are warnings.
func TestAcceptErrorIsWarning(t *testing.T) {
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	ln := newCapListener(&failingListener{err: syscall.EMFILE}, 4, log)
	if _, err := ln.Accept(); !errors.Is(err, syscall.EMFILE) {
		t.Fatalf("accept: %v", err)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "too many open files") {
		t.Errorf("accept error log: %q", logs.String())
	}
	if n := defaultMaxConns(1024); n <= 0 || n > 1024-64 {
		t.Errorf("defaultMaxConns(1024) = %d; want below the limit with room for files and the overflow lane", n)
	}
	if n := defaultMaxConns(1 << 20); n != 16384 {
		t.Errorf("defaultMaxConns(1M) = %d; want the ceiling, 16384", n)
	}
}

type failingListener struct {
	net.Listener
	err error
}

func (f *failingListener) Accept() (net.Conn, error) { return nil, f.err }
func (f *failingListener) Close() error              { return nil }
func (f *failingListener) Addr() net.Addr            { return &net.TCPAddr{} }

// Item 4: /metrics shows the soft memory limit and GOGC in effect.
func TestMetricsShowMemoryLimit(t *testing.T) {
	old := debug.SetMemoryLimit(3 << 30)
	defer debug.SetMemoryLimit(old)
	h := newServer(t, Config{}, nil).Handler()
	m := do(t, h, "GET", "/metrics", "").Body.String()
	for _, want := range []string{"gpuctl_serve_memory_limit_bytes 3.221225472e+09", "gpuctl_serve_gc_percent "} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	debug.SetMemoryLimit(math.MaxInt64)
	if m := do(t, h, "GET", "/metrics", "").Body.String(); !strings.Contains(m, "gpuctl_serve_memory_limit_bytes 0") {
		t.Errorf("no limit should read 0 (none)")
	}
}
