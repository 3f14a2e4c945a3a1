package server

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/runtime/model"
)

// Item 7: the Open Inference Protocol as Triton answers it.
func TestV2Conformance(t *testing.T) {
	h := newServer(t, Config{}, nil).Handler()
	infer := func(dt, data string) string {
		return `{"inputs":[{"name":"input","shape":[1,10],"datatype":"` + dt + `","data":` + data + `}]}`
	}
	ten := func(last string) string { return "[0,1,2,3,4,5,6,7,8," + last + "]" }
	for _, tc := range []struct {
		body string
		code int
		want string
	}{
		{infer("INT32", ten("0.5")), 400, "INT32"},
		{infer("INT8", ten("300")), 400, "INT8"},
		{infer("UINT8", ten("-1")), 400, "UINT8"},
		{infer("INT64", ten("1e300")), 400, "INT64"},
		{infer("FP16", ten("1")), 400, "binary"},
		{infer("BF16", ten("1")), 400, "binary"},
		{infer("INT8", ten("-128")), 200, ""},
		{infer("UINT8", ten("255")), 200, ""},
		{infer("INT32", ten("9")), 200, ""},
		{infer("FP64", ten("9.5")), 200, ""},
		{`{"inputs":[{"name":"input","shape":[1,10],"datatype":"FP32","parameters":{"binary_data_size":40.5}}]}`, 400, "binary_data_size"},
		{`{"inputs":[{"name":"input","shape":[1,10],"datatype":"FP32","parameters":{"binary_data_size":"40"}}]}`, 400, "binary_data_size"},
	} {
		w := do(t, h, "POST", "/v2/models/seed/infer", tc.body)
		var e map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
			t.Errorf("%s: invalid JSON %s", tc.body, w.Body)
		}
		msg, _ := e["error"].(string)
		if w.Code != tc.code || (tc.code != 200 && !strings.Contains(msg, tc.want)) {
			t.Errorf("%s: %d %s; want %d mentioning %q", tc.body, w.Code, w.Body, tc.code, tc.want)
		}
	}
	// Every answer under /v2 is {"error": ...}, 404 and 405 included.
	for _, tc := range []struct {
		method, path string
		code         int
		allow        string
	}{
		{"GET", "/v2/nope", 404, ""},
		{"GET", "/v2/models/seed/nope", 404, ""},
		{"POST", "/v2/models/seed", 405, "GET"},
		{"POST", "/v2/models/seed/versions/1", 405, "GET"},
		{"DELETE", "/v2/models/seed/ready", 405, "GET"},
		{"GET", "/v2/models/seed/infer", 405, "POST"},
		{"POST", "/v2/health/live", 405, "GET"},
		{"PUT", "/v2", 405, "GET"},
	} {
		w := do(t, h, tc.method, tc.path, "")
		var e map[string]any
		json.Unmarshal(w.Body.Bytes(), &e)
		if w.Code != tc.code || e["error"] == nil || e["detail"] != nil || w.Header().Get("Allow") != tc.allow {
			t.Errorf("%s %s: %d Allow %q %s; want %d Allow %q in the v2 error shape", tc.method, tc.path, w.Code, w.Header().Get("Allow"), w.Body, tc.code, tc.allow)
		}
	}
	// The seed's routes keep FastAPI's shape.
	if w := do(t, h, "GET", "/nope", ""); w.Code != 404 || !strings.Contains(w.Body.String(), `"detail"`) {
		t.Errorf("GET /nope: %d %s", w.Code, w.Body)
	}
	for _, p := range []string{"/v2/models/seed/ready", "/v2/models/seed/versions/1/ready"} {
		var ready struct {
			Name  string `json:"name"`
			Ready bool   `json:"ready"`
		}
		w := do(t, h, "GET", p, "")
		json.Unmarshal(w.Body.Bytes(), &ready)
		if w.Code != 200 || ready.Name != "seed" || !ready.Ready {
			t.Errorf("GET %s: %d %s; want {\"name\": \"seed\", \"ready\": true}", p, w.Code, w.Body)
		}
	}
}

// Item 9: no file paths in answers, Host checked against DNS rebinding,
// and form or text bodies refused before inference.
func TestExposure(t *testing.T) {
	dir := t.TempDir()
	a, ts := model.MLP(model.MLPSpec{Widths: []int{10, 4, 1}, Seed: 3})
	a.Name = "small"
	path, err := model.WriteFiles(dir, "small", a, ts)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	h := newServer(t, Config{}, m).Handler()
	abs, _ := filepath.Abs(dir)
	for _, p := range []string{"/", "/v2/models/small", "/docs", "/openapi.json", "/metrics"} {
		if w := do(t, h, "GET", p, ""); strings.Contains(w.Body.String(), abs) || strings.Contains(w.Body.String(), os.TempDir()) {
			t.Errorf("GET %s shows the model's path %s", p, abs)
		}
	}

	// Bound to loopback: only loopback names, any port.
	for _, tc := range []struct {
		host string
		code int
	}{
		{"localhost:8000", 200}, {"127.0.0.1:8000", 200}, {"[::1]:8000", 200}, {"LOCALHOST", 200}, {"127.0.0.1", 200},
		{"evil.example:8000", 403}, {"attacker.test", 403}, {"", 403},
	} {
		w := do(t, h, "GET", "/", "", "Host", tc.host)
		if w.Code != tc.code {
			t.Errorf("Host %q: %d %s; want %d", tc.host, w.Code, w.Body, tc.code)
		}
	}
	if w := do(t, h, "GET", "/v2/health/ready", "", "Host", "evil.example"); w.Code != 403 || !strings.Contains(w.Body.String(), `"error"`) {
		t.Errorf("v2 with a foreign Host: %d %s", w.Code, w.Body)
	}
	// Bound to every interface: any Host, unless a list is given.
	any := newServer(t, Config{Addr: "0.0.0.0:8000"}, nil).Handler()
	if w := do(t, any, "GET", "/", "", "Host", "gpu-node-3:8000"); w.Code != 200 {
		t.Errorf("0.0.0.0 with Host gpu-node-3: %d", w.Code)
	}
	listed := newServer(t, Config{Addr: "0.0.0.0:8000", AllowedHosts: []string{"serve.example", "10.0.0.5"}}, nil).Handler()
	for host, code := range map[string]int{"serve.example:8000": 200, "10.0.0.5": 200, "localhost": 403, "other.example": 403} {
		if w := do(t, listed, "GET", "/", "", "Host", host); w.Code != code {
			t.Errorf("allowed hosts, Host %q: %d; want %d", host, w.Code, code)
		}
	}

	// A browser can send these cross-site without a preflight.
	sh := newServer(t, Config{}, nil).Handler()
	for ct, code := range map[string]int{
		"application/x-www-form-urlencoded": 415, "multipart/form-data; boundary=x": 415, "text/plain": 415, "text/plain; charset=utf-8": 415,
		"application/json": 200, "application/json; charset=utf-8": 200, "": 200,
	} {
		w := do(t, sh, "POST", "/predict", seedRow, "Content-Type", ct)
		if w.Code != code {
			t.Errorf("/predict with Content-Type %q: %d %s; want %d", ct, w.Code, w.Body, code)
		}
	}
	v2 := `{"inputs":[{"name":"input","shape":[1,10],"datatype":"FP32","data":` + seedRow + `}]}`
	if w := do(t, sh, "POST", "/v2/models/seed/infer", v2, "Content-Type", "text/plain"); w.Code != 415 || !strings.Contains(w.Body.String(), `"error"`) {
		t.Errorf("v2 infer as text/plain: %d %s", w.Code, w.Body)
	}
}
