package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"time"
)

// statusWriter records the status code for the metrics.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// instrument counts and times every request, and turns a panic in a
// handler into a 500 with a log line instead of a dropped connection.
func (s *Server) instrument(endpoint string, f http.HandlerFunc) http.Handler {
	hist := s.met.total.WithLabelValues(endpoint)
	ok := s.met.requests.WithLabelValues(endpoint, "200") // the common case, without a label lookup
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		s.met.inflight.Inc()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error("handler panic", "endpoint", endpoint, "panic", p)
				if sw.code == 0 {
					writeError(sw, http.StatusInternalServerError, "internal error")
				}
				s.met.failures.WithLabelValues(endpoint, "internal").Inc()
			}
			s.met.inflight.Dec()
			code := sw.code
			if code == 0 {
				code = http.StatusOK
			}
			if code == http.StatusOK {
				ok.Inc()
			} else {
				s.met.requests.WithLabelValues(endpoint, strconv.Itoa(code)).Inc()
			}
			hist.Observe(time.Since(start).Seconds())
		}()
		f(sw, r)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "encoding response: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

// writeError answers in FastAPI's error shape, {"detail": "..."}, so seed
// clients that print detail keep working.
func writeError(w http.ResponseWriter, code int, msg string) {
	if code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, code, map[string]string{"detail": msg})
}

type modelInfo struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Inputs  int    `json:"inputs"`
	Outputs int    `json:"outputs"`
	Params  int    `json:"parameters"`
	Source  string `json:"source"`
}

func (s *Server) modelInfo() modelInfo {
	return modelInfo{Name: s.m.Name, Version: s.m.Version, Inputs: s.m.In, Outputs: s.m.Out, Params: s.m.Params(), Source: s.source()}
}

// source is where the model came from without the file's path, which
// tells a caller about the host's layout: "built-in", or the file name.
func (s *Server) source() string {
	return filepath.Base(s.m.Source)
}

func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	s.met.handler.ServeHTTP(w, r)
}

// handleRoot is the seed's health check, with the device details added.
func (s *Server) handleRoot(w http.ResponseWriter, r *http.Request) {
	status := "running"
	if s.drain.Load() {
		status = "draining"
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"status":        status,
		"gpu_available": s.info.GPUAvailable,
		"device":        s.be.Device(),
		"gpus":          nonNil(s.info.GPUs),
		"device_reason": s.info.Reason,
		"model":         s.modelInfo(),
		"batching": map[string]any{
			"enabled": s.cfg.Batching, "max_rows": s.cfg.MaxBatchRows, "max_delay": s.cfg.BatchDelay.String(),
		},
		"version":        s.cfg.Version,
		"uptime_seconds": int(time.Since(s.started).Seconds()),
	})
}

// handlePredict is the seed's POST /predict: a list of numbers is one row
// and answers a flat list; a list of lists answers a list of lists.
func (s *Server) handlePredict(w http.ResponseWriter, r *http.Request) {
	if err := refuseCrossSite(r); err != nil {
		s.fail(w, "predict", err)
		return
	}
	rb := s.getBuf()
	release, err := s.readBody(w, r, rb)
	if err != nil {
		s.putBuf(rb)
		s.fail(w, "predict", err)
		return
	}
	// The reservation covers the body and what is made from it until the
	// answer is written.
	defer release()
	x, rows, batched, err := parseRows(rb.body, s.m.In, s.valueBuf(rb), s.cfg.MaxRows)
	if err == nil && rows == 0 {
		err = badInput(http.StatusUnprocessableEntity, "empty input: send a list of %d numbers, or a non-empty list of such lists", s.m.In)
	}
	if err != nil {
		s.putBuf(rb)
		s.fail(w, "predict", err)
		return
	}
	rb.x = x
	out := grow(rb.out, rows*s.m.Out)
	rb.out = out
	if err := s.infer(r.Context(), x, rows, out); err != nil {
		// The batcher may still read x after a timeout: drop the buffers.
		s.fail(w, "predict", err)
		return
	}
	if err := checkFinite(out, s.m.Out); err != nil {
		s.putBuf(rb)
		s.fail(w, "predict", err)
		return
	}
	b := append(rb.resp[:0], `{"prediction":`...)
	b = appendRows(b, out, rows, s.m.Out, batched)
	b = append(b, "}\n"...)
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.Write(b) // copied by the writer before it returns
	rb.resp = b
	s.putBuf(rb)
}

// valueBuf is rb.x with room for every number in rb.body, so parsing a
// large body allocates once instead of growing step by step. A valid body
// has one comma fewer than numbers; the count is capped by what the
// server accepts.
func (s *Server) valueBuf(rb *reqBuf) []float32 {
	if len(rb.body) <= 4<<10 {
		return rb.x[:0]
	}
	n := min(bytes.Count(rb.body, []byte{','})+1, s.cfg.MaxRows*s.m.In)
	if n > cap(rb.x) {
		return make([]float32, 0, n)
	}
	return rb.x[:0]
}

// jsonContentType is shared by every answer; net/http only reads it.
var jsonContentType = []string{"application/json"}

func appendRows(b []byte, out []float32, rows, width int, batched bool) []byte {
	if batched {
		b = append(b, '[')
	}
	for r := 0; r < rows; r++ {
		if r > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		for i, v := range out[r*width : (r+1)*width] {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendFloat(b, v)
		}
		b = append(b, ']')
	}
	if batched {
		b = append(b, ']')
	}
	return b
}

// infer runs rows through the batcher, or straight on the backend when
// batching is off, within the request timeout.
func (s *Server) infer(ctx context.Context, x []float32, rows int, out []float32) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	return s.inferWithin(ctx, x, rows, out)
}

// inferWithin is infer under a context that already carries the request
// timeout.
func (s *Server) inferWithin(ctx context.Context, x []float32, rows int, out []float32) error {
	if s.batch == nil {
		s.met.batchRows.Observe(float64(rows))
		start := time.Now()
		err := s.be.Forward(ctx, x, rows, out)
		s.met.compute.Observe(time.Since(start).Seconds())
		return err
	}
	_, err := s.batch.submit(ctx, x, rows, out)
	return err
}

// failure is how an error is answered: status, metrics reason, message.
type failure struct {
	code   int
	reason string
	msg    string
}

func (s *Server) classify(endpoint string, err error) failure {
	var ie *inputError
	var nf *nonFiniteError
	switch {
	case errors.As(err, &nf):
		if s.warnNonFinite.allow() {
			s.log.Warn("answered 422: the model's output is not finite for this input", "endpoint", endpoint, "err", nf.Error())
		}
		return failure{http.StatusUnprocessableEntity, "nonfinite", nf.Error()}
	case errors.As(err, &ie):
		return failure{ie.status, "client", ie.msg}
	case errors.Is(err, errOverloaded), errors.Is(err, errBodyBudget):
		return failure{http.StatusServiceUnavailable, "overload", err.Error()}
	case errors.Is(err, context.DeadlineExceeded):
		return failure{http.StatusServiceUnavailable, "timeout", fmt.Sprintf("inference did not finish within %s (the server's --request-timeout)", s.cfg.RequestTimeout)}
	case errors.Is(err, context.Canceled):
		// The client went away; nobody reads this answer.
		return failure{499, "canceled", "request canceled"}
	}
	s.log.Error("inference failed", "endpoint", endpoint, "err", err)
	return failure{http.StatusInternalServerError, "internal", "inference failed: " + err.Error()}
}

// fail answers an error in the seed's shape and counts it.
func (s *Server) fail(w http.ResponseWriter, endpoint string, err error) {
	f := s.classify(endpoint, err)
	s.met.failures.WithLabelValues(endpoint, f.reason).Inc()
	writeError(w, f.code, f.msg)
}

// nonFiniteError is a valid input whose output overflowed float32 or is
// NaN: JSON cannot carry it, and a client is better told than handed a
// number that is not one.
type nonFiniteError struct {
	row, col int
	v        float32
}

func (e *nonFiniteError) Error() string {
	return fmt.Sprintf("output row %d element %d is not finite (%v): the model overflowed float32 on this input", e.row, e.col, e.v)
}

func checkFinite(out []float32, width int) error {
	if i := firstNonFinite(out); i >= 0 {
		return &nonFiniteError{row: i / width, col: i % width, v: out[i]}
	}
	return nil
}

func nonNil[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}
