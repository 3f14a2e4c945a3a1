package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gpuctl/gpuctl/runtime/backend"
	"github.com/gpuctl/gpuctl/runtime/backend/cpu"
	"github.com/gpuctl/gpuctl/runtime/model"
)

func newServer(t *testing.T, cfg Config, m *model.Model) *Server {
	t.Helper()
	if m == nil {
		m = model.Seed()
	}
	be, err := cpu.New(m, backend.FP32)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(cfg, m, be, Info{Reason: "test"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.shutdownBatcher)
	return s
}

func do(t *testing.T, h http.Handler, method, path, body string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Host = "localhost:8000" // what a client of the default 127.0.0.1:8000 sends
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

const seedRow = "[0,1,2,3,4,5,6,7,8,9]"

func TestSeedAPI(t *testing.T) {
	for _, batching := range []bool{false, true} {
		t.Run(fmt.Sprint("batching=", batching), func(t *testing.T) {
			h := newServer(t, Config{Batching: batching}, nil).Handler()
			w := do(t, h, "GET", "/", "")
			var root map[string]any
			json.Unmarshal(w.Body.Bytes(), &root)
			if w.Code != 200 || root["status"] != "running" || root["gpu_available"] != false {
				t.Fatalf("GET /: %d %s", w.Code, w.Body)
			}
			if dev, _ := root["device"].(map[string]any); dev["kind"] != "cpu" {
				t.Fatalf("GET / device: %v", root["device"])
			}
			// Shapes as the seed's torch server answers: a row gives a flat
			// list, a batch a list of lists.
			for _, tc := range []struct{ body, want string }{
				{seedRow, `{"prediction":[-2.625]}`},
				{" [ 0 , 1,2,3,4,5,6,7,8,9.0 ] \n", `{"prediction":[-2.625]}`},
				{"[" + seedRow + "]", `{"prediction":[[-2.625]]}`},
				{"[" + seedRow + ",[1,1,1,1,1,1,1,1,1,1]]", `{"prediction":[[-2.625],[0.1875]]}`},
				{"[1e-3,-2E2,3,4,5,6,7,8,9,10]", ""},
			} {
				w := do(t, h, "POST", "/predict", tc.body)
				if w.Code != 200 || (tc.want != "" && strings.TrimSpace(w.Body.String()) != tc.want) {
					t.Errorf("POST %s: %d %s, want %s", tc.body, w.Code, w.Body, tc.want)
				}
			}
		})
	}
}

func TestBadInputIs4xx(t *testing.T) {
	h := newServer(t, Config{Batching: true, MaxRows: 3, MaxBodyBytes: 1024}, nil).Handler()
	for _, tc := range []struct {
		body string
		code int
		want string
	}{
		{"", 400, "empty body"},
		{"{", 400, "malformed JSON"},
		{`{"data": [1]}`, 400, "expected a JSON list"},
		{"[1,2,3", 400, "after element 2"},
		{"[1,2,3,]", 400, "expected a number"},
		{"[1 2]", 400, "expected ','"},
		{"[]", 422, "empty input"},
		{"[[]]", 422, "row 0 has 0 numbers"},
		{"[1,2]", 422, "takes 10 per row"},
		{"[" + seedRow + ",[1]]", 422, "row 1 has 1 numbers"},
		{`[1,2,3,4,5,6,7,8,9,"10"]`, 422, "is a string"},
		{"[1,2,3,4,5,6,7,8,9,null]", 422, "is null"},
		{"[1,2,3,4,5,6,7,8,9,true]", 422, "is true"},
		{"[1,2,3,4,5,6,7,8,9,NaN]", 422, "not finite"},
		{"[1,2,3,4,5,6,7,8,9,-Infinity]", 422, "not finite"},
		{"[1,2,3,4,5,6,7,8,9,1e39]", 422, "float32 range"},
		{"[1,2,3,4,5,6,7,8,9,1e999]", 422, "float32 range"},
		{"[1,2,3,4,5,6,7,8,9,0x10]", 400, "expected ','"},
		{"[1,2,3,4,5,6,7,8,9,+1]", 400, "not a JSON number"},
		{"[1,2,3,4,5,6,7,8,9,.5]", 400, "not a JSON number"},
		{"[1,2,3,4,5,6,7,8,9,[1]]", 422, "nested list"},
		{"[[[1]]]", 422, "nested list"},
		{seedRow + "x", 400, "unexpected data"},
		{"[" + strings.Repeat(seedRow+",", 3) + seedRow + "]", 413, "more than 3 rows"},
		{"[" + strings.Repeat("1,", 600) + "1]", 413, "over the limit of 1024"},
	} {
		w := do(t, h, "POST", "/predict", tc.body)
		var e map[string]string
		json.Unmarshal(w.Body.Bytes(), &e)
		if w.Code != tc.code || !strings.Contains(e["detail"], tc.want) {
			short := tc.body
			if len(short) > 40 {
				short = short[:40] + "..."
			}
			t.Errorf("POST %q: %d %s; want %d mentioning %q", short, w.Code, w.Body, tc.code, tc.want)
		}
	}
	if w := do(t, h, "GET", "/predict", ""); w.Code != 405 || w.Header().Get("Allow") != "POST" {
		t.Errorf("GET /predict: %d %v", w.Code, w.Header())
	}
	if w := do(t, h, "GET", "/nope", ""); w.Code != 404 {
		t.Errorf("GET /nope: %d", w.Code)
	}
}

func FuzzParseRows(f *testing.F) {
	for _, s := range []string{seedRow, "[[1,2],[3,4]]", "[]", "[[]]", "[1e5,-0.0]", "[NaN]", `["a"]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		vals, rows, _, err := parseRows(b, 2, nil, 100)
		if err != nil {
			if _, ok := err.(*inputError); !ok {
				t.Fatalf("non-input error %T: %v", err, err)
			}
			return
		}
		if len(vals) != rows*2 {
			t.Fatalf("%d values for %d rows", len(vals), rows)
		}
		var ref any
		if json.Unmarshal(b, &ref) != nil {
			t.Fatalf("accepted invalid JSON %q", b)
		}
		for _, v := range vals {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Fatalf("accepted non-finite %v", v)
			}
		}
	})
}

func TestV2(t *testing.T) {
	h := newServer(t, Config{Batching: true}, nil).Handler()
	for _, p := range []string{"/v2", "/v2/health/live", "/v2/health/ready", "/v2/models/seed", "/v2/models/seed/ready", "/v2/models/seed/versions/1"} {
		if w := do(t, h, "GET", p, ""); w.Code != 200 {
			t.Errorf("GET %s: %d %s", p, w.Code, w.Body)
		}
	}
	if w := do(t, h, "GET", "/v2/models/other", ""); w.Code != 404 || !strings.Contains(w.Body.String(), `"error"`) {
		t.Errorf("unknown model: %d %s", w.Code, w.Body)
	}
	var meta struct {
		Inputs []tensorMeta `json:"inputs"`
	}
	json.Unmarshal(do(t, h, "GET", "/v2/models/seed", "").Body.Bytes(), &meta)
	if len(meta.Inputs) != 1 || meta.Inputs[0].Shape[1] != 10 {
		t.Fatalf("metadata %+v", meta)
	}

	// JSON tensors, flat and nested.
	for _, data := range []string{"[0,1,2,3,4,5,6,7,8,9,1,1,1,1,1,1,1,1,1,1]", "[[0,1,2,3,4,5,6,7,8,9],[1,1,1,1,1,1,1,1,1,1]]"} {
		body := `{"id":"r1","inputs":[{"name":"input","shape":[2,10],"datatype":"FP32","data":` + data + `}]}`
		w := do(t, h, "POST", "/v2/models/seed/infer", body)
		var resp struct {
			ID      string `json:"id"`
			Outputs []struct {
				Shape []int     `json:"shape"`
				Data  []float32 `json:"data"`
			} `json:"outputs"`
		}
		json.Unmarshal(w.Body.Bytes(), &resp)
		if w.Code != 200 || resp.ID != "r1" || len(resp.Outputs) != 1 || fmt.Sprint(resp.Outputs[0].Data) != "[-2.625 0.1875]" || fmt.Sprint(resp.Outputs[0].Shape) != "[2 1]" {
			t.Fatalf("infer: %d %s", w.Code, w.Body)
		}
	}

	// Binary tensor extension both ways, FP64 input.
	js := `{"inputs":[{"name":"input","shape":[1,10],"datatype":"FP64","parameters":{"binary_data_size":80}}],"outputs":[{"name":"output","parameters":{"binary_data":true}}]}`
	body := []byte(js)
	for i := 0; i < 10; i++ {
		body = binary.LittleEndian.AppendUint64(body, math.Float64bits(float64(i)))
	}
	req := httptest.NewRequest("POST", "/v2/models/seed/infer", bytes.NewReader(body))
	req.Host = "localhost"
	req.Header.Set(binaryHeader, fmt.Sprint(len(js)))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	n := 0
	fmt.Sscan(w.Header().Get(binaryHeader), &n)
	rb := w.Body.Bytes()
	if w.Code != 200 || n <= 0 || len(rb) != n+4 {
		t.Fatalf("binary infer: %d header %q body %q", w.Code, w.Header().Get(binaryHeader), rb)
	}
	if v := math.Float32frombits(binary.LittleEndian.Uint32(rb[n:])); v != -2.625 {
		t.Fatalf("binary output %v", v)
	}
	if !strings.Contains(string(rb[:n]), `"binary_data_size":4`) {
		t.Fatalf("binary header JSON %s", rb[:n])
	}

	for _, tc := range []struct{ body, hdr, want string }{
		{`{"inputs":[]}`, "", "got 0 inputs"},
		{`{"inputs":[{"name":"x","shape":[1,10],"datatype":"FP32","data":[]}]}`, "", "unknown input"},
		{`{"inputs":[{"name":"input","shape":[1,10],"datatype":"STRING","data":[]}]}`, "", "datatype"},
		{`{"inputs":[{"name":"input","shape":[1,9],"datatype":"FP32","data":[1]}]}`, "", "shape [1 9]"},
		{`{"inputs":[{"name":"input","shape":[1,10],"datatype":"FP32","data":[1,2]}]}`, "", "needs 10 values, data has 2"},
		{`{"inputs":[{"name":"input","shape":[1,10],"datatype":"FP32","data":["a"]}]}`, "", "string"},
		{`{"inputs":[{"name":"input","shape":[1,10],"datatype":"FP32","parameters":{"binary_data_size":40}}]}`, "", "binary part of the body has 0 bytes"},
		{`{"inputs":[{"name":"input","shape":[1,10],"datatype":"FP32","data":[0,1,2,3,4,5,6,7,8,9]}],"outputs":[{"name":"y"}]}`, "", "unknown output"},
		{`{"inputs":`, "", "malformed"},
		{`{"inputs":[{"name":"input","shape":[2,10],"datatype":"FP32","data":[[0,1,2,3,4,5,6,7,8,9,1,1,1,1,1],[1,1,1,1,1]]}]}`, "", "row 0 has more than 10 numbers"},
		{`{"inputs":[{"name":"input","shape":[2,10],"datatype":"FP32","data":[[0,1,2,3,4,5,6,7,8,9]]}]}`, "", "data has 1 rows, shape says 2"},
		{`{"inputs":[{"name":"input","shape":[1,10],"datatype":"FP32","data":[[0,1,2,3,4,5,6,7,8,9],[0,1,2,3,4,5,6,7,8,9]]}]}`, "", "data has more than 1 rows, shape says 1"},
		{`{}`, "99", "Inference-Header-Content-Length"},
	} {
		var hdr []string
		if tc.hdr != "" {
			hdr = []string{binaryHeader, tc.hdr}
		}
		w := do(t, h, "POST", "/v2/models/seed/infer", tc.body, hdr...)
		if w.Code != 400 || !strings.Contains(w.Body.String(), tc.want) {
			t.Errorf("infer %s: %d %s; want 400 mentioning %q", tc.body, w.Code, w.Body, tc.want)
		}
	}
	// NaN through the binary path.
	js = `{"inputs":[{"name":"input","shape":[1,10],"datatype":"FP32","parameters":{"binary_data_size":40}}]}`
	body = []byte(js)
	for i := 0; i < 10; i++ {
		body = binary.LittleEndian.AppendUint32(body, math.Float32bits(float32(math.NaN())))
	}
	if w := do(t, h, "POST", "/v2/models/seed/infer", string(body), binaryHeader, fmt.Sprint(len(js))); w.Code != 400 || !strings.Contains(w.Body.String(), "not finite") {
		t.Errorf("binary NaN: %d %s", w.Code, w.Body)
	}
}

func TestDocsOpenAPIMetrics(t *testing.T) {
	h := newServer(t, Config{Batching: true}, nil).Handler()
	do(t, h, "POST", "/predict", seedRow)
	do(t, h, "POST", "/predict", "[1]")
	w := do(t, h, "GET", "/docs", "")
	if w.Code != 200 || !strings.Contains(w.Body.String(), "/predict") || !strings.Contains(w.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("docs: %d", w.Code)
	}
	var oa map[string]any
	w = do(t, h, "GET", "/openapi.json", "")
	if err := json.Unmarshal(w.Body.Bytes(), &oa); err != nil || oa["openapi"] != "3.1.0" {
		t.Fatalf("openapi: %v %s", err, w.Body)
	}
	paths := oa["paths"].(map[string]any)
	for _, p := range []string{"/", "/predict", "/v2/models/{name}/infer", "/v2/health/ready"} {
		if paths[p] == nil {
			t.Errorf("openapi lacks %s", p)
		}
	}
	w = do(t, h, "GET", "/metrics", "")
	m := w.Body.String()
	for _, want := range []string{
		`gpuctl_serve_requests_total{code="200",endpoint="predict"} 1`,
		`gpuctl_serve_requests_total{code="422",endpoint="predict"} 1`,
		`gpuctl_serve_request_failures_total{endpoint="predict",reason="client"} 1`,
		"gpuctl_serve_request_duration_seconds_bucket", "gpuctl_serve_queue_duration_seconds_count 1",
		"gpuctl_serve_compute_duration_seconds_count 1", "gpuctl_serve_batch_rows_sum 1", "gpuctl_serve_ready 1",
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// slowBackend blocks until released, to observe batching and draining.
type slowBackend struct {
	backend.Backend
	mu      sync.Mutex
	batches []int
	gate    chan struct{}
}

func (s *slowBackend) Forward(ctx context.Context, x []float32, rows int, out []float32) error {
	<-s.gate
	s.mu.Lock()
	s.batches = append(s.batches, rows)
	s.mu.Unlock()
	return s.Backend.Forward(ctx, x, rows, out)
}

func TestDynamicBatching(t *testing.T) {
	m := model.Seed()
	c, _ := cpu.New(m, backend.FP32)
	sb := &slowBackend{Backend: c, gate: make(chan struct{})}
	s, err := New(Config{Batching: true, BatchWorkers: 1, MaxBatchRows: 64, BatchDelay: 50 * time.Millisecond}, m, sb, Info{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.shutdownBatcher()
	var wg sync.WaitGroup
	results := make([]string, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			row := fmt.Sprintf("[%d,0,0,0,0,0,0,0,0,0]", i)
			results[i] = strings.TrimSpace(do(t, s.Handler(), "POST", "/predict", row).Body.String())
		}()
	}
	time.Sleep(20 * time.Millisecond) // all 20 queue behind the first batch's delay
	close(sb.gate)
	wg.Wait()
	for i, r := range results {
		want := fmt.Sprintf(`{"prediction":[%g]}`, float32(i)/16+0.5)
		if r != want {
			t.Errorf("request %d: %s, want %s (answers mixed up between batch members?)", i, r, want)
		}
	}
	if len(sb.batches) >= 20 {
		t.Errorf("no batching: %d passes for 20 requests (%v)", len(sb.batches), sb.batches)
	}
	t.Logf("20 requests in %d passes: %v", len(sb.batches), sb.batches)
}

func TestOverloadAndTimeout(t *testing.T) {
	m := model.Seed()
	c, _ := cpu.New(m, backend.FP32)
	sb := &slowBackend{Backend: c, gate: make(chan struct{})}
	s, err := New(Config{Batching: true, BatchWorkers: 1, QueueLen: 1, MaxBatchRows: 1, RequestTimeout: 100 * time.Millisecond}, m, sb, Info{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { close(sb.gate); s.shutdownBatcher() }()
	codes := make(chan int, 4)
	for range 4 {
		go func() { codes <- do(t, s.Handler(), "POST", "/predict", seedRow).Code }()
	}
	got := map[int]int{}
	for range 4 {
		got[<-codes]++
	}
	if got[503] != 4 {
		t.Fatalf("codes %v: want every request 503 (queue full or timed out)", got)
	}
}

// SIGTERM drain: readiness turns false, the request in flight completes,
// then Serve returns.
func TestGracefulDrain(t *testing.T) {
	m := model.Seed()
	c, _ := cpu.New(m, backend.FP32)
	sb := &slowBackend{Backend: c, gate: make(chan struct{})}
	s, err := New(Config{Batching: true, DrainDelay: 200 * time.Millisecond}, m, sb, Info{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	inflight := make(chan string, 1)
	go func() {
		resp, err := http.Post(base+"/predict", "application/json", strings.NewReader(seedRow))
		if err != nil {
			inflight <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		inflight <- string(b)
	}()
	time.Sleep(50 * time.Millisecond)
	cancel() // what SIGTERM does through signal.NotifyContext
	time.Sleep(50 * time.Millisecond)
	resp, err := http.Get(base + "/v2/health/ready")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Errorf("readiness while draining: %d, want 503", resp.StatusCode)
	}
	close(sb.gate)
	if got := <-inflight; !strings.Contains(got, "-2.625") {
		t.Errorf("in-flight request: %q", got)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after drain")
	}
}

func BenchmarkPredict(b *testing.B) {
	for _, batching := range []bool{false, true} {
		b.Run(fmt.Sprint("batching=", batching), func(b *testing.B) {
			m := model.Seed()
			c, _ := cpu.New(m, backend.FP32)
			s, _ := New(Config{Batching: batching}, m, c, Info{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
			defer s.shutdownBatcher()
			h := s.Handler()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := httptest.NewRequest("POST", "/predict", strings.NewReader(seedRow))
					w := httptest.NewRecorder()
					h.ServeHTTP(w, req)
				}
			})
		})
	}
}

// A client that never finishes its headers is cut off by the header
// timeout instead of holding a connection forever.
func TestSlowClientTimeout(t *testing.T) {
	m := model.Seed()
	c, _ := cpu.New(m, backend.FP32)
	s, err := New(Config{HeaderTimeout: 100 * time.Millisecond, ReadTimeout: 200 * time.Millisecond}, m, c, Info{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	defer func() { cancel(); <-served }()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte("POST /predict HTTP/1.1\r\nHost: x\r\n"))
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	_, err = io.ReadAll(conn)
	if err != nil {
		t.Fatalf("connection not closed by the server: %v", err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("closed after %s", el)
	}
}
