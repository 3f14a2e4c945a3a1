// Package server is gpuctl's model server: the seed's FastAPI-compatible
// API (GET /, POST /predict, /docs, /openapi.json), the Open Inference
// Protocol (KServe v2) with the binary tensor extension, Prometheus
// metrics, dynamic batching, timeouts and a graceful drain on shutdown.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gpuctl/gpuctl/runtime/backend"
	"github.com/gpuctl/gpuctl/runtime/model"
	"github.com/prometheus/client_golang/prometheus"
)

// fixedPaths lists each fixed path's method, for 405 answers.
var fixedPaths = map[string]string{"/": "GET", "/predict": "POST", "/docs": "GET", "/openapi.json": "GET", "/metrics": "GET",
	"/v2": "GET", "/v2/health/live": "GET", "/v2/health/ready": "GET"}

// Config holds the serving limits; the zero value of a field means its
// default (see Defaults).
type Config struct {
	Addr string
	// Batching gathers concurrent requests into one forward pass.
	Batching      bool
	MaxBatchRows  int           // rows per forward pass
	BatchDelay    time.Duration // longest wait for a batch to fill; 0 takes what is queued
	BatchWorkers  int           // batches formed and run at once
	QueueLen      int           // requests waiting for the batcher before 503
	MaxRows       int           // rows in one request
	MaxBodyBytes  int64
	ReadTimeout   time.Duration
	WriteTimeout  time.Duration
	IdleTimeout   time.Duration
	HeaderTimeout time.Duration
	// RequestTimeout bounds queueing plus compute for one request.
	RequestTimeout time.Duration
	// DrainDelay keeps serving after SIGTERM with readiness false, so a
	// load balancer stops sending before the listener closes.
	DrainDelay      time.Duration
	ShutdownTimeout time.Duration
	Version         string
}

// Defaults fills zero fields.
func (c Config) Defaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.Addr == "" {
		c.Addr = "127.0.0.1:8000"
	}
	if c.MaxBatchRows == 0 {
		c.MaxBatchRows = 256
	}
	if c.BatchWorkers == 0 {
		c.BatchWorkers = 2
	}
	if c.QueueLen == 0 {
		c.QueueLen = 4096
	}
	if c.MaxRows == 0 {
		c.MaxRows = 4096
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 64 << 20
	}
	def(&c.ReadTimeout, 30*time.Second)
	def(&c.WriteTimeout, 60*time.Second)
	def(&c.IdleTimeout, 120*time.Second)
	def(&c.HeaderTimeout, 10*time.Second)
	def(&c.RequestTimeout, 30*time.Second)
	def(&c.ShutdownTimeout, 30*time.Second)
	if c.Version == "" {
		c.Version = "dev"
	}
	return c
}

// Validate rejects settings that cannot work, before anything starts.
func (c Config) Validate() error {
	switch {
	case c.MaxBatchRows < 1:
		return fmt.Errorf("max batch rows must be at least 1, got %d", c.MaxBatchRows)
	case c.BatchDelay < 0:
		return fmt.Errorf("batch delay must not be negative, got %s", c.BatchDelay)
	case c.BatchWorkers < 1:
		return fmt.Errorf("batch workers must be at least 1, got %d", c.BatchWorkers)
	case c.QueueLen < 1:
		return fmt.Errorf("queue length must be at least 1, got %d", c.QueueLen)
	case c.MaxRows < 1:
		return fmt.Errorf("max rows must be at least 1, got %d", c.MaxRows)
	case c.MaxBodyBytes < 64:
		return fmt.Errorf("max body bytes must be at least 64, got %d", c.MaxBodyBytes)
	}
	return nil
}

// Info is what the server reports about the host beyond the backend.
type Info struct {
	GPUAvailable bool
	GPUs         []backend.Device // every GPU NVML found
	Reason       string           // why this device was chosen
	GPUMetrics   prometheus.Collector
}

// Server serves one model on one backend.
type Server struct {
	cfg       Config
	m         *model.Model
	be        backend.Backend
	info      Info
	log       *slog.Logger
	met       *metrics
	batch     *batcher
	ready     atomic.Bool
	drain     atomic.Bool
	started   time.Time
	mux       *http.ServeMux
	bufs      sync.Pool
	closeOnce sync.Once
}

// New wires a server; it does not listen yet.
func New(cfg Config, m *model.Model, be backend.Backend, info Info, log *slog.Logger) (*Server, error) {
	cfg = cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	s := &Server{cfg: cfg, m: m, be: be, info: info, log: log, met: newMetrics(info.GPUMetrics), started: time.Now()}
	if cfg.Batching {
		s.batch = newBatcher(be, m.In, m.Out, cfg.MaxBatchRows, cfg.BatchDelay, cfg.QueueLen, cfg.BatchWorkers, s.met)
	}
	s.routes()
	s.ready.Store(true)
	s.met.ready.Set(1)
	return s, nil
}

// Handler is the server's HTTP handler, for tests and embedding.
func (s *Server) Handler() http.Handler { return s.mux }

// Run listens on cfg.Addr until ctx ends, then drains: readiness turns
// false, requests in flight finish, and the batcher empties its queue.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve is Run on a listener the caller opened.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.mux,
		ReadTimeout:       s.cfg.ReadTimeout,
		ReadHeaderTimeout: s.cfg.HeaderTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	s.log.Info("serving", "addr", ln.Addr().String(), "model", s.m.Name, "device", s.be.Device().Kind, "batching", s.cfg.Batching)
	select {
	case err := <-errc:
		// Handlers may still be running, so the batcher stays open: the
		// process is about to exit with this error anyway.
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	s.ready.Store(false)
	s.drain.Store(true)
	s.met.ready.Set(0)
	s.log.Info("draining: readiness is false", "delay", s.cfg.DrainDelay, "timeout", s.cfg.ShutdownTimeout)
	if s.cfg.DrainDelay > 0 {
		time.Sleep(s.cfg.DrainDelay)
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err := hs.Shutdown(sctx)
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

func (s *Server) shutdownBatcher() {
	if s.batch != nil {
		s.closeOnce.Do(s.batch.close)
	}
}

func (s *Server) routes() {
	mux := http.NewServeMux()
	h := func(pattern, endpoint string, f http.HandlerFunc) {
		mux.Handle(pattern, s.instrument(endpoint, f))
	}
	h("GET /{$}", "health", s.handleRoot)
	h("POST /predict", "predict", s.handlePredict)
	h("GET /docs", "docs", s.handleDocs)
	h("GET /openapi.json", "openapi", s.handleOpenAPI)
	h("GET /v2", "v2_server", s.handleV2Server)
	h("GET /v2/health/live", "v2_live", s.handleLive)
	h("GET /v2/health/ready", "v2_ready", s.handleReady)
	h("GET /v2/models/{name}", "v2_model", s.handleV2Model)
	h("GET /v2/models/{name}/versions/{version}", "v2_model", s.handleV2Model)
	h("GET /v2/models/{name}/ready", "v2_model_ready", s.handleV2ModelReady)
	h("GET /v2/models/{name}/versions/{version}/ready", "v2_model_ready", s.handleV2ModelReady)
	h("POST /v2/models/{name}/infer", "v2_infer", s.handleV2Infer)
	h("POST /v2/models/{name}/versions/{version}/infer", "v2_infer", s.handleV2Infer)
	mux.Handle("GET /metrics", s.metricsHandler())
	// Everything else: a JSON 404/405 instead of net/http's plain text.
	mux.Handle("/", s.instrument("other", func(w http.ResponseWriter, r *http.Request) {
		if m, ok := fixedPaths[r.URL.Path]; ok || (strings.HasPrefix(r.URL.Path, "/v2/models/") && strings.HasSuffix(r.URL.Path, "/infer")) {
			if !ok {
				m = "POST"
			}
			w.Header().Set("Allow", m)
			writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s takes %s, not %s; see /docs", r.URL.Path, m, r.Method))
			return
		}
		writeError(w, http.StatusNotFound, fmt.Sprintf("no endpoint %s %s; see /docs", r.Method, r.URL.Path))
	}))
	s.mux = mux
}
