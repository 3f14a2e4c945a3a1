package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gpuctl/gpuctl/runtime/model"
)

// fastModel is a small MLP named "mlp", as the fast path's tests serve.
func fastModel() *model.Model {
	return model.BuildMLP(model.MLPSpec{Widths: []int{4, 3, 2}, Seed: 7})
}

func inferReq(host string, rows int, extra string) string {
	body, jl := v2BinaryBody(rows, 4)
	return rawInfer(host, string(body[:jl]), string(body[jl:]), extra)
}

func rawInfer(host, js, bin, extra string) string {
	return fmt.Sprintf("POST /v2/models/mlp/infer HTTP/1.1\r\nHost: %s\r\nContent-Type: application/octet-stream\r\n%s%s: %d\r\nContent-Length: %d\r\n\r\n%s%s", host, extra, binaryHeader, len(js), len(js)+len(bin), js, bin)
}

// rawPredict is the seed's POST /predict as wrk and curl send it.
func rawPredict(host, body, extra string) string {
	return fmt.Sprintf("POST /predict HTTP/1.1\r\nHost: %s\r\n%sContent-Length: %d\r\n\r\n%s", host, extra, len(body), body)
}

const jsonType = "Content-Type: application/json\r\n"

const closingGet = "GET /v2/health/live HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"

// exchange sends raw on one connection and reads until the server closes it.
func exchange(t *testing.T, addr, raw string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, _ := io.ReadAll(c)
	return string(b)
}

var dateLine = regexp.MustCompile(`Date: [^\r]*\r\n`)

// The fast path and net/http answer the same bytes to the same requests,
// Date aside: those the fast path serves and those it hands over, on one
// connection, pipelined or not.
func TestFastPathMatchesNetHTTP(t *testing.T) {
	cfg := Config{MaxBodyBytes: 8 << 10}
	fast := newServer(t, cfg, fastModel())
	cfg.NetHTTPOnly = true
	std := newServer(t, cfg, fastModel())
	fastAddr, stdAddr := strings.TrimPrefix(serve(t, fast), "http://"), strings.TrimPrefix(serve(t, std), "http://")
	body, jl := v2BinaryBody(2, 4)
	jsonOut := rawInfer("localhost", strings.Replace(string(body[:jl]), `,"outputs":[{"name":"output","parameters":{"binary_data":true}}]`, "", 1), string(body[jl:]), "")
	badLen := strings.Replace(inferReq("localhost", 1, ""), fmt.Sprintf("%s: %d", binaryHeader, jl), binaryHeader+": 3", 1)
	overLimit := rawInfer("localhost", string(body[:jl]), strings.Repeat("\x00", 9000), "")
	nan := inferReq("localhost", 1, "")
	nan = nan[:len(nan)-4] + "\x00\x00\xc0\x7f"
	chunked := strings.Replace(inferReq("localhost", 1, "Transfer-Encoding: chunked\r\n"), "Content-Length: ", "X-Was: ", 1)
	head, cbody, _ := strings.Cut(chunked, "\r\n\r\n")
	chunked = fmt.Sprintf("%s\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", head, len(cbody), cbody)
	for _, tc := range []struct {
		name, raw  string
		fastServed int64 // answers the fast path gives itself
	}{
		{"one row", inferReq("localhost", 1, "") + closingGet, 1},
		{"pipelined, a GET between", inferReq("localhost", 1, "") + inferReq("localhost:8000", 3, "") + "GET /v2 HTTP/1.1\r\nHost: localhost\r\n\r\n" + inferReq("localhost", 1, "") + closingGet, 2},
		{"JSON answer", jsonOut + closingGet, 1},
		{"keep-alive header", inferReq("localhost", 1, "Connection: keep-alive\r\n") + closingGet, 1},
		{"non-finite input", nan + closingGet, 0},
		{"bad JSON length", badLen + closingGet, 0},
		{"unknown model", strings.Replace(inferReq("localhost", 1, ""), "/mlp/", "/other/", 1) + closingGet, 0},
		{"host not allowed", inferReq("evil.example", 1, "") + closingGet, 0},
		{"chunked", chunked + closingGet, 0},
		{"expect 100-continue", inferReq("localhost", 1, "Expect: 100-continue\r\n") + closingGet, 0},
		{"connection close", inferReq("localhost", 1, "Connection: close\r\n"), 0},
		{"HTTP/1.0", strings.Replace(inferReq("localhost", 1, ""), "HTTP/1.1", "HTTP/1.0", 1), 0},
		{"over the body limit", overLimit + closingGet, 0},
		{"not HTTP", "hello\r\n\r\n", 0},
		// The seed's /predict: JSON rows in, JSON rows out.
		{"predict one row", rawPredict("localhost", "[0.1, 0.2, 0.3, 0.4]", jsonType) + closingGet, 1},
		{"predict a batch", rawPredict("localhost:8000", "[[1,2,3,4],[0.5,-1,2,3e-3]]", jsonType) + closingGet, 1},
		{"predict without Content-Type", rawPredict("localhost", "[1,2,3,4]", "") + closingGet, 1},
		{"predict and v2 pipelined", rawPredict("localhost", "[1,2,3,4]", jsonType) + inferReq("localhost", 2, "") + rawPredict("localhost", "[[4,3,2,1]]", "Connection: keep-alive\r\n"+jsonType) + closingGet, 3},
		{"predict wrong width", rawPredict("localhost", "[1,2]", jsonType) + closingGet, 0},
		{"predict empty list", rawPredict("localhost", "[]", jsonType) + closingGet, 0},
		{"predict broken JSON", rawPredict("localhost", "[1,2,", jsonType) + closingGet, 0},
		{"predict over float32", rawPredict("localhost", "[1e39,0,0,0]", jsonType) + closingGet, 0},
		{"predict huge outputs", rawPredict("localhost", "[3e38,3e38,3e38,3e38]", jsonType) + closingGet, -1},
		{"predict text/plain", rawPredict("localhost", "[1,2,3,4]", "Content-Type: text/plain\r\n") + closingGet, 0},
		{"predict with a query", strings.Replace(rawPredict("localhost", "[1,2,3,4]", jsonType), "/predict", "/predict?x=1", 1) + closingGet, 0},
		{"predict host not allowed", rawPredict("evil.example", "[1,2,3,4]", jsonType) + closingGet, 0},
		{"predict over the body limit", rawPredict("localhost", "["+strings.Repeat("1,", 4600)+"1]", jsonType) + closingGet, 0},
		{"predict connection close", rawPredict("localhost", "[1,2,3,4]", "Connection: close\r\n"+jsonType), 0},
		{"predict binary header", rawPredict("localhost", "[1,2,3,4]", binaryHeader+": 2\r\n"+jsonType) + closingGet, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := fast.fastServed.Load()
			got, want := exchange(t, fastAddr, tc.raw), exchange(t, stdAddr, tc.raw)
			got, want = dateLine.ReplaceAllString(got, "Date: -\r\n"), dateLine.ReplaceAllString(want, "Date: -\r\n")
			if got != want {
				t.Errorf("fast path answered\n%q\nnet/http\n%q", got, want)
			}
			if n := fast.fastServed.Load() - before; tc.fastServed >= 0 && n != tc.fastServed {
				t.Errorf("the fast path answered %d requests, want %d", n, tc.fastServed)
			}
			if !strings.HasPrefix(want, "HTTP/1.") {
				t.Errorf("no answer: %q", want)
			}
		})
	}
	// Both servers saw the same requests: the fast path counts what it
	// answers as net/http's handlers would.
	if got, want := requestMetrics(t, fastAddr), requestMetrics(t, stdAddr); got != want {
		t.Errorf("fast path metrics\n%s\nnet/http\n%s", got, want)
	}
}

// requestMetrics is the request counters and histogram counts a server
// exports, without the scrape itself.
func requestMetrics(t *testing.T, addr string) string {
	t.Helper()
	var keep []string
	for _, l := range strings.Split(scrape(t, addr), "\n") {
		if (strings.HasPrefix(l, "gpuctl_serve_requests_total{") || strings.HasPrefix(l, "gpuctl_serve_request_failures_total{") ||
			strings.HasPrefix(l, "gpuctl_serve_request_duration_seconds_count{")) && !strings.Contains(l, `"metrics"`) {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

type sleepyBackend struct {
	nullBackend
	d time.Duration
}

func (b sleepyBackend) Forward(ctx context.Context, x []float32, rows int, out []float32) error {
	time.Sleep(b.d)
	return b.nullBackend.Forward(ctx, x, rows, out)
}

// A drain closes the fast path's idle connections at once, answers a
// request in flight (with Connection: close) before the server stops, and
// during the drain delay still serves new connections, telling them to
// close.
func TestFastPathDrain(t *testing.T) {
	m := fastModel()
	s, err := New(Config{DrainDelay: 300 * time.Millisecond}, m, sleepyBackend{nullBackend{m.Out}, 200 * time.Millisecond}, Info{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stop, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.ServeUntil(stop, context.Background(), ln) }()
	dial := func() (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(5 * time.Second))
		return c, bufio.NewReader(c)
	}
	answer := func(br *bufio.Reader) *http.Response {
		r, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, r.Body)
		if r.StatusCode != 200 {
			t.Fatalf("status %d", r.StatusCode)
		}
		return r
	}
	idle, idleR := dial()
	io.WriteString(idle, inferReq("localhost", 1, ""))
	if r := answer(idleR); r.Close {
		t.Fatal("Connection: close before the drain")
	}
	busy, busyR := dial()
	io.WriteString(busy, inferReq("localhost", 1, ""))
	time.Sleep(50 * time.Millisecond) // the request is computing
	cancel()
	if r := answer(busyR); !r.Close {
		t.Error("the request in flight at the drain was not told to close")
	}
	if _, err := idleR.ReadByte(); err != io.EOF {
		t.Errorf("idle connection at the drain: %v; want EOF", err)
	}
	late, lateR := dial()
	io.WriteString(late, inferReq("localhost", 1, ""))
	if r := answer(lateR); !r.Close {
		t.Error("a request during the drain delay was not told to close")
	}
	if _, err := lateR.ReadByte(); err != io.EOF {
		t.Errorf("after its answer in the drain: %v; want EOF", err)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	if n := s.fastServed.Load(); n != 3 {
		t.Errorf("the fast path answered %d, want 3", n)
	}
}

// A body that does not arrive within the read timeout is a 408 on the
// fast path too, and the connection closes.
func TestFastPathSlowBody408(t *testing.T) {
	s := newServer(t, Config{ReadTimeout: 300 * time.Millisecond}, fastModel())
	addr := strings.TrimPrefix(serve(t, s), "http://")
	for _, req := range []string{inferReq("localhost", 1, ""), rawPredict("localhost", "[1, 2, 3, 4]", jsonType)} {
		got := exchange(t, addr, req[:len(req)-5])
		if !strings.HasPrefix(got, "HTTP/1.1 408") || !strings.Contains(got, "Connection: close\r\n") {
			t.Errorf("slow body of %.20q: %q; want a 408 that closes", req, got)
		}
	}
}

// gateBackend holds its first Forward until released or canceled; later
// calls run at once.
type gateBackend struct {
	nullBackend
	entered chan struct{}
	release chan struct{}
	ended   chan error // what the held call returned
	calls   atomic.Int32
}

func newGateBackend(out int) *gateBackend {
	return &gateBackend{nullBackend: nullBackend{out}, entered: make(chan struct{}), release: make(chan struct{}), ended: make(chan error, 1)}
}

func (g *gateBackend) Forward(ctx context.Context, x []float32, rows int, out []float32) error {
	if g.calls.Add(1) == 1 {
		close(g.entered)
		var err error
		select {
		case <-g.release:
		case <-ctx.Done():
			err = ctx.Err()
		}
		g.ended <- err
		if err != nil {
			return err
		}
	}
	return g.nullBackend.Forward(ctx, x, rows, out)
}

// A client that goes away while its request computes cancels it, on the
// fast path as on net/http's, and the server counts it as canceled.
func TestClientGoneCancelsInference(t *testing.T) {
	for _, tc := range []struct {
		name, req   string
		netHTTPOnly bool
		endpoint    string
	}{
		{"predict fast", rawPredict("localhost", "[1,2,3,4]", jsonType), false, "predict"},
		{"predict net/http", rawPredict("localhost", "[1,2,3,4]", jsonType), true, "predict"},
		{"v2 fast", inferReq("localhost", 1, ""), false, "v2_infer"},
		{"v2 net/http", inferReq("localhost", 1, ""), true, "v2_infer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, g, addr, c := gatedServer(t, Config{NetHTTPOnly: tc.netHTTPOnly})
			io.WriteString(c, tc.req)
			<-g.entered
			c.Close()
			select {
			case err := <-g.ended:
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("the held inference ended with %v; want context.Canceled", err)
				}
			case <-time.After(10 * time.Second):
				close(g.release)
				t.Fatal("the inference of a client that left was not canceled")
			}
			// The answer is counted once its write failed or was skipped.
			want := fmt.Sprintf(`gpuctl_serve_request_failures_total{endpoint="%s",reason="canceled"} 1`, tc.endpoint)
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				if strings.Contains(scrape(t, addr), want) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no %s in /metrics", want)
				}
			}
		})
	}
}

// A request pipelined behind a slow one is still served, whole, when the
// watch for a gone client has read its first byte.
func TestPipelinedBehindSlowRequest(t *testing.T) {
	s, g, _, c := gatedServer(t, Config{})
	io.WriteString(c, rawPredict("localhost", "[1,2,3,4]", jsonType))
	<-g.entered
	time.Sleep(3 * clientWatchDelay) // the watch is reading
	io.WriteString(c, inferReq("localhost", 1, ""))
	time.Sleep(3 * clientWatchDelay)
	io.WriteString(c, closingGet)
	close(g.release)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	for i, want := range []string{`{"prediction":[0,0]}` + "\n", "", ""} {
		r, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		b, _ := io.ReadAll(r.Body)
		if r.StatusCode != 200 || want != "" && !strings.Contains(string(b), want) {
			t.Errorf("answer %d: %d %q; want 200 %q", i, r.StatusCode, b, want)
		}
	}
	if n := s.fastServed.Load(); n != 2 {
		t.Errorf("the fast path answered %d, want 2", n)
	}
}

// gatedServer serves fastModel on a gateBackend and dials it once; the
// connection closes with the test.
func gatedServer(t *testing.T, cfg Config) (*Server, *gateBackend, string, net.Conn) {
	t.Helper()
	m := fastModel()
	g := newGateBackend(m.Out)
	s, err := New(cfg, m, g, Info{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(serve(t, s), "http://")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return s, g, addr, c
}

func scrape(t *testing.T, addr string) string {
	t.Helper()
	r, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
