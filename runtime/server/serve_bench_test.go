package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/gpuctl/gpuctl/runtime/backend"
	"github.com/gpuctl/gpuctl/runtime/model"
)

// nullBackend answers zeros at once, so a benchmark measures the server's
// own cost per request: reading, parsing, batching, answering.
type nullBackend struct{ out int }

func (n nullBackend) Forward(_ context.Context, _ []float32, rows int, out []float32) error {
	clear(out[:rows*n.out])
	return nil
}
func (nullBackend) Device() backend.Device { return backend.Device{Kind: "cpu", Name: "null"} }
func (nullBackend) Close() error           { return nil }

// v2BinaryBody is a binary-extension request of rows rows of width
// numbers asking for a binary answer, as gpubench load sends it.
func v2BinaryBody(rows, width int) (body []byte, jsonLen int) {
	js := fmt.Sprintf(`{"inputs":[{"name":"input","shape":[%d,%d],"datatype":"FP32","parameters":{"binary_data_size":%d}}],"outputs":[{"name":"output","parameters":{"binary_data":true}}]}`, rows, width, 4*rows*width)
	body = []byte(js)
	for i := range rows * width {
		body = binary.LittleEndian.AppendUint32(body, math.Float32bits(float32(i%7)*0.25))
	}
	return body, len(js)
}

// BenchmarkServeV2Binary is the served path of issue 16's target without
// the device: allocations and CPU time per request through the handler.
func BenchmarkServeV2Binary(b *testing.B) {
	m := model.BuildMLP(model.MLPSpec{Widths: []int{1024, 8, 1024}, Seed: 7})
	for _, rows := range []int{1, 256} {
		b.Run(fmt.Sprint("rows=", rows), func(b *testing.B) {
			s, err := New(Config{Batching: true}, m, nullBackend{m.Out}, Info{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				b.Fatal(err)
			}
			defer s.shutdownBatcher()
			h := s.Handler()
			body, jl := v2BinaryBody(rows, m.In)
			hl := strconv.Itoa(jl)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := httptest.NewRequest("POST", "/v2/models/mlp/infer", bytes.NewReader(body))
					req.Host = "localhost"
					req.Header.Set(binaryHeader, hl)
					req.Header.Set("Content-Type", "application/octet-stream")
					w := httptest.NewRecorder()
					h.ServeHTTP(w, req)
					if w.Code != 200 {
						b.Fatalf("%d %s", w.Code, w.Body)
					}
				}
			})
		})
	}
}

// BenchmarkServePredictJSON is /predict with one 1024-number JSON row.
func BenchmarkServePredictJSON(b *testing.B) {
	m := model.BuildMLP(model.MLPSpec{Widths: []int{1024, 8, 1024}, Seed: 7})
	s, err := New(Config{Batching: true}, m, nullBackend{m.Out}, Info{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	defer s.shutdownBatcher()
	h := s.Handler()
	body := []byte(row(1024, "0.123456"))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest("POST", "/predict", bytes.NewReader(body))
			req.Host = "localhost"
			req.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != 200 {
				b.Fatalf("%d %s", w.Code, w.Body)
			}
		}
	})
}
