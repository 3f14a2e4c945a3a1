package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gpuctl/gpuctl/runtime/backend"
	"github.com/gpuctl/gpuctl/runtime/backend/cpu"
	"github.com/gpuctl/gpuctl/runtime/model"
)

// BenchmarkServeTCPV2Binary drives the whole server (listener, net/http,
// handler, batcher) over loopback TCP from keep-alive connections that
// send v2 binary requests back to back, as gpubench load does, with the
// null backend: a CPU profile of it is the per-request cost a GPU server
// pays on its host. The clients run in-process; profile the server's
// frames. Each case runs with net/http alone and with the fast path, in
// the same run: cpu-us/op is the process's CPU time (server and clients)
// per request.
func BenchmarkServeTCPV2Binary(b *testing.B) {
	m := model.BuildMLP(model.MLPSpec{Widths: []int{1024, 8, 1024}, Seed: 7})
	for _, tc := range []struct {
		conns, rows int
		path        string
	}{{64, 1, "nethttp"}, {64, 1, "fast"}, {8, 256, "nethttp"}, {8, 256, "fast"}} {
		b.Run(fmt.Sprintf("conns=%d/rows=%d/path=%s", tc.conns, tc.rows, tc.path), func(b *testing.B) {
			s, err := New(Config{Batching: true, NetHTTPOnly: tc.path == "nethttp"}, m, nullBackend{m.Out}, Info{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				b.Fatal(err)
			}
			body, jl := v2BinaryBody(tc.rows, m.In)
			req := append([]byte(fmt.Sprintf("POST /v2/models/mlp/infer HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/octet-stream\r\n%s: %d\r\nContent-Length: %d\r\n\r\n", binaryHeader, jl, len(body))), body...)
			benchTCP(b, s, req, tc.conns, tc.rows)
		})
	}
}

// BenchmarkServeTCPPredict is the seed's client against the seed model on
// the CPU backend, as bench/runtime/cpu-bench.sh drives it with wrk: 64
// keep-alive connections POSTing 10 numbers to /predict.
func BenchmarkServeTCPPredict(b *testing.B) {
	m := model.Seed()
	be, err := cpu.New(m, backend.FP32)
	if err != nil {
		b.Fatal(err)
	}
	body := "[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]"
	req := []byte(fmt.Sprintf("POST /predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body))
	for _, path := range []string{"nethttp", "fast"} {
		b.Run("conns=64/path="+path, func(b *testing.B) {
			s, err := New(Config{NetHTTPOnly: path == "nethttp"}, m, be, Info{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				b.Fatal(err)
			}
			benchTCP(b, s, req, 64, 1)
		})
	}
}

// benchTCP serves s on loopback and sends req b.N times over conns
// keep-alive connections, each waiting for its answer before the next.
func benchTCP(b *testing.B, s *Server, req []byte, nconns, rows int) {
	b.ReportAllocs()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	defer func() { cancel(); <-served }()
	conns := make([]net.Conn, nconns)
	for i := range conns {
		if conns[i], err = net.Dial("tcp", ln.Addr().String()); err != nil {
			b.Fatal(err)
		}
		defer conns[i].Close()
	}
	var next sync.WaitGroup
	work := make(chan struct{}, b.N)
	for range b.N {
		work <- struct{}{}
	}
	close(work)
	b.SetBytes(int64(len(req)))
	cpu0 := cpuTime()
	b.ResetTimer()
	errs := make(chan error, len(conns))
	for _, c := range conns {
		next.Add(1)
		go func() {
			defer next.Done()
			rd := bufio.NewReaderSize(c, 64<<10)
			for range work {
				if _, err := c.Write(req); err != nil {
					errs <- err
					return
				}
				if err := readAnswer(rd); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	next.Wait()
	b.StopTimer()
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-us/op")
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N*rows)/b.Elapsed().Seconds(), "rows/s")
}

// cpuTime is the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// readAnswer reads one HTTP/1.1 answer by its Content-Length and fails
// unless it is a 200.
func readAnswer(rd *bufio.Reader) error {
	status, err := rd.ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(status, "HTTP/1.1 200") {
		return fmt.Errorf("answer %q", strings.TrimSpace(status))
	}
	n := -1
	for {
		line, err := rd.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			break
		}
		if k, v, ok := strings.Cut(string(line), ":"); ok && strings.EqualFold(k, "Content-Length") {
			n, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	if n < 0 {
		return fmt.Errorf("answer without Content-Length")
	}
	_, err = rd.Discard(n)
	return err
}
