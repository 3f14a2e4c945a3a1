package server

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
)

// The Open Inference Protocol (KServe v2), as Triton and KServe speak it.

// binaryHeader is the binary tensor data extension's header: the body is
// that many bytes of JSON, then the raw tensors back to back.
const binaryHeader = "Inference-Header-Content-Length"

func (s *Server) handleV2Server(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"name": "gpuctl", "version": s.cfg.Version, "extensions": []string{"binary_tensor_data"}})
}

func (s *Server) handleLive(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]bool{"live": true})
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	if !s.ready.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"ready": false, "reason": "draining"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ready": true})
}

// v2Error answers in the protocol's error shape, {"error": "..."}.
func v2Error(w http.ResponseWriter, code int, msg string) {
	if code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, code, map[string]string{"error": msg})
}

// checkModel answers 404 unless the path names our model (and version).
func (s *Server) checkModel(w http.ResponseWriter, r *http.Request) bool {
	if name := r.PathValue("name"); name != s.m.Name {
		v2Error(w, http.StatusNotFound, fmt.Sprintf("unknown model %q; this server serves %q", name, s.m.Name))
		return false
	}
	if v := r.PathValue("version"); v != "" && v != s.m.Version {
		v2Error(w, http.StatusNotFound, fmt.Sprintf("model %q has no version %q; it has %q", s.m.Name, v, s.m.Version))
		return false
	}
	return true
}

type tensorMeta struct {
	Name     string `json:"name"`
	Datatype string `json:"datatype"`
	Shape    []int  `json:"shape"`
}

func (s *Server) handleV2Model(w http.ResponseWriter, r *http.Request) {
	if !s.checkModel(w, r) {
		return
	}
	dev := s.be.Device()
	writeJSON(w, http.StatusOK, map[string]any{
		"name":     s.m.Name,
		"versions": []string{s.m.Version},
		"platform": "gpuctl_" + dev.Kind,
		"inputs":   []tensorMeta{{s.m.InputName, "FP32", []int{-1, s.m.In}}},
		"outputs":  []tensorMeta{{s.m.OutputName, "FP32", []int{-1, s.m.Out}}},
		"parameters": map[string]any{
			"device": dev, "max_batch_rows": s.cfg.MaxBatchRows, "dynamic_batching": s.cfg.Batching, "source": s.source(),
		},
	})
}

// handleV2ModelReady answers the protocol's $model_ready_response.
func (s *Server) handleV2ModelReady(w http.ResponseWriter, r *http.Request) {
	if !s.checkModel(w, r) {
		return
	}
	if !s.ready.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"name": s.m.Name, "ready": false, "reason": "draining"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"name": s.m.Name, "ready": true})
}

type inferInput struct {
	Name       string          `json:"name"`
	Shape      []int           `json:"shape"`
	Datatype   string          `json:"datatype"`
	Parameters map[string]any  `json:"parameters,omitempty"`
	Data       json.RawMessage `json:"data,omitempty"`
}

type inferOutputReq struct {
	Name       string         `json:"name"`
	Parameters map[string]any `json:"parameters,omitempty"`
}

type inferRequest struct {
	ID         string           `json:"id,omitempty"`
	Parameters map[string]any   `json:"parameters,omitempty"`
	Inputs     []inferInput     `json:"inputs"`
	Outputs    []inferOutputReq `json:"outputs,omitempty"`
}

// dtype is what the protocol's datatype means for a value sent as JSON.
type dtype struct {
	name     string
	size     int
	integer  bool
	min, max float64
	noJSON   bool // FP16 and BF16 have no JSON form: binary data only
}

var dtypes = map[string]*dtype{
	"FP32": {name: "FP32", size: 4}, "FP64": {name: "FP64", size: 8},
	"FP16": {name: "FP16", size: 2, noJSON: true}, "BF16": {name: "BF16", size: 2, noJSON: true},
	"INT8":   {name: "INT8", size: 1, integer: true, min: math.MinInt8, max: math.MaxInt8},
	"INT16":  {name: "INT16", size: 2, integer: true, min: math.MinInt16, max: math.MaxInt16},
	"INT32":  {name: "INT32", size: 4, integer: true, min: math.MinInt32, max: math.MaxInt32},
	"INT64":  {name: "INT64", size: 8, integer: true, min: math.MinInt64, max: math.MaxInt64},
	"UINT8":  {name: "UINT8", size: 1, integer: true, max: math.MaxUint8},
	"UINT16": {name: "UINT16", size: 2, integer: true, max: math.MaxUint16},
	"UINT32": {name: "UINT32", size: 4, integer: true, max: math.MaxUint32},
	"UINT64": {name: "UINT64", size: 8, integer: true, max: math.MaxUint64},
}

// holds reports whether a JSON number is a value of the type; only the
// integer types have limits tighter than the float32 check after it.
func (d *dtype) holds(v float64) bool {
	return !d.integer || (v == math.Trunc(v) && v >= d.min && v <= d.max)
}

func (d *dtype) rangeText() string {
	return fmt.Sprintf("%s takes integers from %.0f to %.0f", d.name, d.min, d.max)
}

// v2Fail answers an error in the protocol's shape and counts it.
func (s *Server) v2Fail(w http.ResponseWriter, err error) {
	f := s.classify("v2_infer", err)
	s.met.failures.WithLabelValues("v2_infer", f.reason).Inc()
	v2Error(w, f.code, f.msg)
}

func flag(p map[string]any, k string) bool {
	v, ok := p[k]
	if !ok {
		return false
	}
	b, ok := v.(bool)
	return ok && b
}

func (s *Server) checkShape(shape []int) (int, error) {
	switch {
	case len(shape) == 1 && shape[0] == s.m.In:
		return 1, nil
	case len(shape) == 2 && shape[1] == s.m.In && shape[0] > 0:
		if shape[0] > s.cfg.MaxRows {
			return 0, badInput(http.StatusRequestEntityTooLarge, "shape %v has more than %d rows (the server's --max-rows)", shape, s.cfg.MaxRows)
		}
		return shape[0], nil
	}
	return 0, badInput(http.StatusBadRequest, "shape %v: the model takes [rows, %d] with rows ≥ 1 (or [%d] for one row)", shape, s.m.In, s.m.In)
}

// tensorData reads a tensor's JSON data: flat (row-major) or nested as
// rows of width numbers, where every row must have the same length, as
// the shape says. It stops at the first value past n, and allocates for
// no more values than raw can hold (each takes at least two bytes, "0,"),
// so a small body declaring a huge shape costs nothing.
func tensorData(raw json.RawMessage, n, width, rows int, dt *dtype) ([]float32, error) {
	alloc := min(n, len(raw)/2+1)
	p := scanner{b: raw}
	p.ws()
	if p.eat('[') {
		p.ws()
		if p.peek() == '[' && dt.name == "FP32" {
			vals, got, _, err := parseRows(raw, width, make([]float32, 0, alloc), rows)
			if err != nil {
				if ie, ok := err.(*inputError); ok && ie.status == http.StatusRequestEntityTooLarge {
					return nil, badInput(http.StatusBadRequest, "data has more than %d rows, shape says %d", rows, rows)
				}
				return nil, err
			}
			if got != rows {
				return nil, badInput(http.StatusBadRequest, "data has %d rows, shape says %d", got, rows)
			}
			return vals, nil
		}
	}
	return flatten(raw, make([]float32, 0, alloc), n, dt)
}

// flatten reads nested JSON lists of numbers in row-major order, the
// protocol's JSON tensor form (flat or nested both allowed), at most n.
func flatten(raw json.RawMessage, dst []float32, n int, dt *dtype) ([]float32, error) {
	p := scanner{b: raw}
	dst, err := flattenValue(&p, dst, 0, n, dt)
	if err == errTooLong {
		return nil, badInput(http.StatusBadRequest, "data has more than the %d values the shape says", n)
	}
	if err != nil {
		return nil, err
	}
	p.ws()
	if p.i != len(p.b) {
		return nil, badInput(http.StatusBadRequest, "unexpected data after the tensor")
	}
	return dst, nil
}

func flattenValue(p *scanner, dst []float32, depth, n int, dt *dtype) ([]float32, error) {
	if depth > 32 {
		return nil, badInput(http.StatusBadRequest, "data is nested more than 32 deep")
	}
	p.ws()
	if !p.eat('[') {
		return nil, badInput(http.StatusBadRequest, "data must be a JSON list of numbers")
	}
	p.ws()
	if p.peek() != '[' {
		// A list of numbers; numbers() reports strings, NaN and the like.
		d, _, err := p.numbers(dst, -1, n-len(dst), intOnly(dt))
		return d, err
	}
	for {
		var err error
		dst, err = flattenValue(p, dst, depth+1, n, dt)
		if err != nil {
			return nil, err
		}
		if p.eat(',') {
			continue
		}
		if p.eat(']') {
			return dst, nil
		}
		return nil, badInput(http.StatusBadRequest, "malformed tensor data at byte %d", p.i)
	}
}

// intOnly is dt when its values need checking beyond float32's range.
func intOnly(dt *dtype) *dtype {
	if dt == nil || !dt.integer {
		return nil
	}
	return dt
}
