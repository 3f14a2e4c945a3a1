// Package server is gpuctl's model server: the seed's FastAPI-compatible
// API (GET /, POST /predict, /docs, /openapi.json), the Open Inference
// Protocol (KServe v2) with the binary tensor extension, Prometheus
// metrics, dynamic batching, timeouts and a graceful drain on shutdown.
package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gpuctl/gpuctl/runtime/backend"
	"github.com/gpuctl/gpuctl/runtime/model"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/semaphore"
)

// Config holds the serving limits; the zero value of a field means its
// default (see Defaults).
type Config struct {
	Addr string
	// Batching gathers concurrent requests into one forward pass.
	Batching     bool
	MaxBatchRows int           // rows per forward pass
	BatchDelay   time.Duration // longest wait for a batch to fill; 0 takes what is queued
	BatchWorkers int           // batches formed and run at once
	QueueLen     int           // requests waiting for the batcher before 503
	MaxRows      int           // rows in one request
	// MaxBodyBytes is the largest request body; 0 derives it from the
	// model's input size and MaxBatchRows (see bodyLimit).
	MaxBodyBytes int64
	// MaxInflightBytes bounds the request bodies held at once, across
	// requests; 0 means twice MaxBodyBytes.
	MaxInflightBytes int64
	// MaxConns caps open connections; 0 derives it from the open-files
	// limit (see defaultMaxConns).
	MaxConns int
	// AllowedHosts are the Host header names served (any port). Empty
	// means any, except when Addr is a loopback address: then only
	// loopback names, so a web page cannot reach the server through DNS
	// rebinding. "*" allows any.
	AllowedHosts  []string
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
	// NetHTTPOnly turns off the fast path for keep-alive v2 binary
	// inference and /predict (fastpath.go): every request goes through net/http.
	NetHTTPOnly bool
}

// Defaults fills zero fields. The limits that depend on the model
// (MaxBodyBytes, MaxInflightBytes) are filled by New.
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
	if c.MaxConns == 0 {
		c.MaxConns = defaultMaxConns(openFilesLimit())
	}
	if len(c.AllowedHosts) == 0 {
		c.AllowedHosts = defaultAllowedHosts(c.Addr)
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
// Zero means "derive" for the body, in-flight and connection limits.
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
	case c.MaxBodyBytes != 0 && c.MaxBodyBytes < 64:
		return fmt.Errorf("max body bytes must be at least 64 (or 0 to derive it from the model), got %d", c.MaxBodyBytes)
	case c.MaxInflightBytes != 0 && c.MaxBodyBytes != 0 && c.MaxInflightBytes < c.MaxBodyBytes:
		return fmt.Errorf("max in-flight bytes (%d) must be at least max body bytes (%d), or no body could be read", c.MaxInflightBytes, c.MaxBodyBytes)
	case c.MaxInflightBytes < 0 || c.MaxConns < 0:
		return errors.New("max in-flight bytes and max connections must not be negative")
	}
	return nil
}

// withModel fills the limits that follow from the model.
func (c Config) withModel(m *model.Model) Config {
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = bodyLimit(m.In, c.MaxBatchRows, c.MaxRows)
	}
	if c.MaxInflightBytes == 0 {
		// Two bodies at the limit: one being read while another is
		// computed. The bound on memory is this budget, so it follows
		// the model rather than a fixed size.
		c.MaxInflightBytes = 2 * c.MaxBodyBytes
	}
	return c
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
	cfg           Config
	m             *model.Model
	be            backend.Backend
	info          Info
	log           *slog.Logger
	met           *metrics
	batch         *batcher
	ready         atomic.Bool
	drain         atomic.Bool
	started       time.Time
	handler       http.Handler
	bufs          sync.Pool
	closeOnce     sync.Once
	inflight      *semaphore.Weighted // body bytes held across requests
	hosts         hostSet
	warnNonFinite rateLimit
	pool          poolLimits
	v2Headers     headerCache
	fastServed    atomic.Int64 // answers of the fast path, for tests
	date          dateCache    // the fast path's Date header
	// v2Prefix and v2Output are the constant JSON of every v2 answer.
	v2Prefix, v2Output []byte
}

// New wires a server; it does not listen yet.
func New(cfg Config, m *model.Model, be backend.Backend, info Info, log *slog.Logger) (*Server, error) {
	cfg = cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withModel(m)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	s := &Server{cfg: cfg, m: m, be: be, info: info, log: log, met: newMetrics(info.GPUMetrics), started: time.Now(),
		inflight: semaphore.NewWeighted(cfg.MaxInflightBytes), hosts: newHostSet(cfg.AllowedHosts),
		pool: newPoolLimits(m.In, m.Out, cfg.MaxBatchRows)}
	s.v2Prefix, s.v2Output = v2AnswerParts(m)
	if cfg.Batching {
		s.batch = newBatcher(be, m.In, m.Out, cfg.MaxBatchRows, cfg.BatchDelay, cfg.QueueLen, cfg.BatchWorkers, s.met)
	}
	s.routes()
	s.ready.Store(true)
	s.met.ready.Set(1)
	return s, nil
}

// Handler is the server's HTTP handler, for tests and embedding.
func (s *Server) Handler() http.Handler { return s.handler }
