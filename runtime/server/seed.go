package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
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

func (s *Server) metricsHandler() http.Handler {
	return s.instrument("metrics", promhttp.HandlerFor(s.met.reg, promhttp.HandlerOpts{}).ServeHTTP)
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
	return modelInfo{Name: s.m.Name, Version: s.m.Version, Inputs: s.m.In, Outputs: s.m.Out, Params: s.m.Params(), Source: s.m.Source}
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

type reqBuf struct {
	body []byte
	x    []float32
}

// readBody reads at most MaxBodyBytes into a pooled buffer.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, rb *reqBuf) error {
	if r.ContentLength > s.cfg.MaxBodyBytes {
		return badInput(http.StatusRequestEntityTooLarge, "body of %d bytes is over the limit of %d (the server's --max-body-bytes)", r.ContentLength, s.cfg.MaxBodyBytes)
	}
	body := http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	buf := rb.body[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return badInput(http.StatusRequestEntityTooLarge, "body is over the limit of %d bytes (the server's --max-body-bytes)", s.cfg.MaxBodyBytes)
			}
			return badInput(http.StatusBadRequest, "reading body: %v", err)
		}
	}
	rb.body = buf
	return nil
}

func (s *Server) getBuf() *reqBuf {
	if rb, ok := s.bufs.Get().(*reqBuf); ok {
		return rb
	}
	return &reqBuf{body: make([]byte, 0, 4096), x: make([]float32, 0, 256)}
}

// handlePredict is the seed's POST /predict: a list of numbers is one row
// and answers a flat list; a list of lists answers a list of lists.
func (s *Server) handlePredict(w http.ResponseWriter, r *http.Request) {
	rb := s.getBuf()
	err := s.readBody(w, r, rb)
	var x []float32
	var rows int
	var batched bool
	if err == nil {
		x, rows, batched, err = parseRows(rb.body, s.m.In, rb.x[:0], s.cfg.MaxRows)
		if err == nil && rows == 0 {
			err = badInput(http.StatusUnprocessableEntity, "empty input: send a list of %d numbers, or a non-empty list of such lists", s.m.In)
		}
	}
	if err != nil {
		s.bufs.Put(rb)
		s.fail(w, "predict", err)
		return
	}
	rb.x = x
	out := make([]float32, rows*s.m.Out)
	if err := s.infer(r.Context(), x, rows, out); err != nil {
		// The batcher may still read x after a timeout: drop the buffer.
		s.fail(w, "predict", err)
		return
	}
	s.bufs.Put(rb)
	b := make([]byte, 0, 16+len(out)*14)
	b = append(b, `{"prediction":`...)
	b = appendRows(b, out, rows, s.m.Out, batched)
	b = append(b, "}\n"...)
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.Write(b)
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

// fail maps an error to a status code and a message.
func (s *Server) fail(w http.ResponseWriter, endpoint string, err error) {
	var ie *inputError
	switch {
	case errors.As(err, &ie):
		s.met.failures.WithLabelValues(endpoint, "client").Inc()
		writeError(w, ie.status, ie.msg)
	case errors.Is(err, errOverloaded):
		s.met.failures.WithLabelValues(endpoint, "overload").Inc()
		writeError(w, http.StatusServiceUnavailable, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		s.met.failures.WithLabelValues(endpoint, "timeout").Inc()
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("inference did not finish within %s (the server's --request-timeout)", s.cfg.RequestTimeout))
	case errors.Is(err, context.Canceled):
		// The client went away; nobody reads this answer.
		s.met.failures.WithLabelValues(endpoint, "canceled").Inc()
		writeError(w, 499, "request canceled")
	default:
		s.met.failures.WithLabelValues(endpoint, "internal").Inc()
		s.log.Error("inference failed", "endpoint", endpoint, "err", err)
		writeError(w, http.StatusInternalServerError, "inference failed: "+err.Error())
	}
}

func nonNil[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}
