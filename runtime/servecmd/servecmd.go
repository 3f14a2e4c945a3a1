// Package servecmd is `gpuctl serve`: flags, device choice (NVML, then
// CUDA, else the gonum CPU path), and the server's lifetime.
package servecmd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/gpuctl/gpuctl/runtime/backend"
	"github.com/gpuctl/gpuctl/runtime/backend/cpu"
	"github.com/gpuctl/gpuctl/runtime/backend/cuda"
	"github.com/gpuctl/gpuctl/runtime/device"
	"github.com/gpuctl/gpuctl/runtime/model"
	"github.com/gpuctl/gpuctl/runtime/server"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
)

// Options are the command's flags.
type Options struct {
	Model     string
	Device    string
	Precision string
	GPU       int
	Threads   int
	LogFormat string
	LogLevel  string
	Batching  string
	// MemoryLimit is the Go heap's soft limit: auto (90% of the cgroup's
	// memory.max), off, or a size; GOMEMLIMIT in the environment wins.
	MemoryLimit string
	Server      server.Config

	prec backend.Precision
	log  *slog.Logger
}

// NewCommand returns `serve`, for the root command to add.
func NewCommand() *cobra.Command {
	o := &Options{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve a model over HTTP (seed-compatible /predict, KServe v2, /metrics) on GPU or CPU",
		Long: `Serve a model exported from PyTorch (safetensors weights plus a JSON architecture)
over HTTP. Without --model it serves the built-in seed model, nn.Linear(10, 1)
with fixed weights, so the seed server's requests work unchanged.

At start NVML is asked for a GPU. With --device auto a usable GPU and CUDA
libraries (libcudart, libcublas, libnvrtc, found at run time) select the CUDA
path; otherwise the gonum CPU path runs on every core, and the log says why.`,
		Example: `  gpuctl serve
  gpuctl serve --model mlp.json --device cuda --precision bf16 --addr 0.0.0.0:8000
  curl -s localhost:8000/predict -d '[0,1,2,3,4,5,6,7,8,9]'`,
		Args: cobra.NoArgs,
		// A failed start is not a usage mistake: print the error, not the flags.
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	s := &o.Server
	f.StringVar(&s.Addr, "addr", "127.0.0.1:8000", "address to listen on")
	f.StringVar(&o.Model, "model", "", "architecture JSON of the model (weights: its \"weights\" field or the .safetensors beside it); empty serves the built-in seed model")
	f.StringVar(&o.Device, "device", "auto", "auto, cpu or cuda; cuda fails at start when no GPU is usable")
	f.StringVar(&o.Precision, "precision", "fp32", "matrix products on the GPU: fp32, tf32 or bf16 (the CPU path is fp32)")
	f.IntVar(&o.GPU, "gpu", 0, "GPU index to use")
	f.IntVar(&o.Threads, "threads", 0, "CPU threads (GOMAXPROCS); 0 uses every core")
	f.StringVar(&o.Batching, "batching", "auto", "gather concurrent requests into one forward pass: on, off, or auto (on, except for tiny models on the CPU, where the hand-off costs more than the product)")
	f.IntVar(&s.MaxBatchRows, "max-batch", 256, "most rows in one forward pass")
	f.DurationVar(&s.BatchDelay, "batch-delay", 0, "longest wait for a batch to fill; 0 batches whatever is queued when the device is free")
	f.IntVar(&s.BatchWorkers, "batch-workers", 2, "batches formed and run at once")
	f.IntVar(&s.QueueLen, "queue", 4096, "requests waiting for a batch before the server answers 503")
	f.IntVar(&s.MaxRows, "max-rows", 4096, "most rows in one request")
	f.Int64Var(&s.MaxBodyBytes, "max-body-bytes", 0, "largest request body; 0 derives it from the model: a full batch (--max-batch rows) of its inputs as JSON or --max-rows rows as binary FP32, the larger (224 KiB for the seed model, 16 MiB for a 1024-input one)")
	f.Int64Var(&s.MaxInflightBytes, "max-inflight-bytes", 0, "request bodies held at once across requests, then requests wait (up to --request-timeout, then 503); 0 means twice --max-body-bytes")
	f.IntVar(&s.MaxConns, "max-conns", 0, "open connections at once; over it liveness still answers and the rest get 503; 0 derives it from the open-files limit (7/8 of it, at most 16384)")
	f.StringSliceVar(&s.AllowedHosts, "allowed-hosts", nil, "Host header names served (any port), against DNS rebinding; default: localhost, 127.0.0.1 and ::1 when --addr is loopback, else any (\"*\")")
	f.StringVar(&o.MemoryLimit, "memory-limit", "auto", "soft memory limit of the Go heap (GOMEMLIMIT semantics): auto (90% of the cgroup's memory.max, if any), off, or a size such as 2GiB; GOMEMLIMIT in the environment wins")
	f.DurationVar(&s.ReadTimeout, "read-timeout", 30*time.Second, "time to read a whole request")
	f.DurationVar(&s.HeaderTimeout, "header-timeout", 10*time.Second, "time to read request headers")
	f.DurationVar(&s.WriteTimeout, "write-timeout", 60*time.Second, "time to write a response")
	f.DurationVar(&s.IdleTimeout, "idle-timeout", 120*time.Second, "keep-alive idle time")
	f.DurationVar(&s.RequestTimeout, "request-timeout", 30*time.Second, "queueing plus compute for one request, then 503")
	f.DurationVar(&s.DrainDelay, "drain-delay", 0, "after SIGTERM, keep serving this long with readiness false (answers say Connection: close) before closing the listener; a second signal stops at once")
	f.DurationVar(&s.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "longest wait for requests in flight at shutdown")
	f.BoolVar(&s.NetHTTPOnly, "net-http-only", false, "serve every request through Go's net/http, without the raw HTTP/1.1 fast path for keep-alive v2 binary inference and /predict")
	f.StringVar(&o.LogFormat, "log-format", "text", "text or json")
	f.StringVar(&o.LogLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}

// Complete derives what the flags imply.
func (o *Options) Complete() error {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(o.LogLevel)); err != nil {
		return fmt.Errorf("--log-level %q: %w", o.LogLevel, err)
	}
	hopts := &slog.HandlerOptions{Level: lvl}
	switch o.LogFormat {
	case "text":
		o.log = slog.New(slog.NewTextHandler(os.Stderr, hopts))
	case "json":
		o.log = slog.New(slog.NewJSONHandler(os.Stderr, hopts))
	default:
		return fmt.Errorf("--log-format %q: want text or json", o.LogFormat)
	}
	p, err := backend.ParsePrecision(o.Precision)
	if err != nil {
		return fmt.Errorf("--precision: %w", err)
	}
	o.prec = p
	return nil
}

// Validate checks flags before anything is loaded.
func (o *Options) Validate() error {
	switch o.Device {
	case "auto", "cpu", "cuda":
	default:
		return fmt.Errorf("--device %q: want auto, cpu or cuda", o.Device)
	}
	if o.Device == "cpu" && o.prec != backend.FP32 {
		return fmt.Errorf("--precision %s needs the GPU; the CPU path is fp32", o.prec)
	}
	switch o.Batching {
	case "auto", "on", "off", "true", "false":
	default:
		return fmt.Errorf("--batching %q: want auto, on or off", o.Batching)
	}
	if o.Threads < 0 || o.GPU < 0 {
		return errors.New("--threads and --gpu must not be negative")
	}
	if _, _, err := memoryLimit(o.MemoryLimit, "", "/nonexistent"); err != nil {
		return err
	}
	// Flags carry their defaults already: a zero here is the user's, and wrong.
	return o.Server.Validate()
}

// Run loads the model, picks the device and serves until SIGINT/SIGTERM;
// a second signal during the drain stops at once.
func (o *Options) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	stop, force, release := signalContexts(ctx, o.log)
	defer release()
	if o.Threads > 0 {
		runtime.GOMAXPROCS(o.Threads)
	}
	if err := o.setMemoryLimit(); err != nil {
		return err
	}
	m, err := LoadModel(o.Model)
	if err != nil {
		return err
	}
	o.log.Info("model loaded", "name", m.Name, "source", m.Source, "inputs", m.In, "outputs", m.Out, "params", m.Params())
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent(int64(m.Params()) * 4))
	}
	be, info, err := Select(o.log, m, o.Device, o.prec, o.GPU, o.Server.MaxBatchRows)
	if err != nil {
		return err
	}
	defer be.Close()
	o.Server.Batching = batching(o.Batching, be.Device().Kind, m)
	srv, err := server.New(o.Server, m, be, info, o.log)
	if err != nil {
		return err
	}
	return srv.Run(stop, force)
}

// signalContexts turns the first SIGINT/SIGTERM into stop (drain) and
// the second into force (close everything now).
func signalContexts(parent context.Context, log *slog.Logger) (stop, force context.Context, release func()) {
	stop, stopNow := context.WithCancel(parent)
	force, forceNow := context.WithCancel(context.Background())
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		for n := 0; ; n++ {
			select {
			case s := <-sig:
				if n == 0 {
					log.Info("signal: draining", "signal", s.String())
					stopNow()
					continue
				}
				log.Warn("second signal: stopping without draining", "signal", s.String())
				forceNow()
				return
			case <-done:
				return
			}
		}
	}()
	return stop, force, func() {
		signal.Stop(sig)
		close(done)
		stopNow()
		forceNow()
	}
}

// gcPercent is GOGC for a model of weightBytes, unless GOGC is set. A
// small model leaves a live heap of a few MiB, where the default 100 would
// collect every few MiB of request garbage and cost a quarter of /predict's
// throughput; 400 keeps the heap target small all the same. A large model
// is most of the live heap, and 400 would let the target reach five times
// it (1 GB for the reference MLP): it gets the runtime's 100.
func gcPercent(weightBytes int64) int {
	if weightBytes < 16<<20 {
		return 400
	}
	return 100
}

// setMemoryLimit applies --memory-limit; with a soft limit the collector
// also works harder as memory gets short, whatever GOGC says.
func (o *Options) setMemoryLimit() error {
	limit, source, err := memoryLimit(o.MemoryLimit, os.Getenv("GOMEMLIMIT"), "/")
	if err != nil {
		return err
	}
	if limit > 0 {
		debug.SetMemoryLimit(limit)
	}
	if cur := debug.SetMemoryLimit(-1); cur < math.MaxInt64 {
		limit = cur
	}
	o.log.Info("memory", "soft_limit_bytes", limit, "source", source, "GOGC", os.Getenv("GOGC"))
	return nil
}

// tinyFLOPs is the work per row under which auto turns batching off on
// the CPU: the seed's 10→1 product takes nanoseconds, the batcher's
// hand-off between goroutines microseconds.
const tinyFLOPs = 1 << 20

func batching(flag, device string, m *model.Model) bool {
	switch flag {
	case "on", "true":
		return true
	case "off", "false":
		return false
	}
	return device != "cpu" || m.FLOPs() >= tinyFLOPs
}

// LoadModel loads an architecture file, or the built-in seed model.
func LoadModel(path string) (*model.Model, error) {
	if path == "" {
		return model.Seed(), nil
	}
	return model.Load(path)
}

// Select chooses the backend. It never fails in auto mode: any GPU
// problem is logged with its reason and the CPU path serves instead.
func Select(log *slog.Logger, m *model.Model, want string, prec backend.Precision, gpu, maxRows int) (backend.Backend, server.Info, error) {
	probe := device.Detect()
	info := server.Info{GPUAvailable: probe.Usable(), GPUs: probe.GPUs}
	if probe.Usable() {
		g := probe.GPUs[0]
		if gpu < len(probe.GPUs) {
			g = probe.GPUs[gpu]
		}
		log.Info("NVML found GPUs", "count", len(probe.GPUs), "driver", probe.Driver, "cuda", probe.CUDA, "gpu", gpu, "name", g.Name, "memory_bytes", g.MemoryTotal)
		info.GPUMetrics = device.NewCollector()
	} else {
		log.Info("no GPU", "reason", probe.Err)
	}
	useCPU := func(reason string) (backend.Backend, server.Info, error) {
		if prec != backend.FP32 {
			log.Warn("precision applies to the GPU only; the CPU path runs fp32", "precision", prec)
		}
		c, err := cpu.New(m, backend.FP32)
		if err != nil {
			return nil, info, err
		}
		info.Reason = reason
		log.Info("using the CPU path (gonum)", "reason", reason, "threads", runtime.GOMAXPROCS(0))
		return c, info, nil
	}
	switch want {
	case "cpu":
		return useCPU("--device cpu")
	case "cuda":
		if !probe.Usable() {
			return nil, info, fmt.Errorf("--device cuda: no usable GPU: %w", probe.Err)
		}
		if gpu >= len(probe.GPUs) {
			return nil, info, fmt.Errorf("--device cuda: --gpu %d, but NVML found %d GPUs", gpu, len(probe.GPUs))
		}
	}
	if !probe.Usable() {
		return useCPU(fmt.Sprintf("no GPU: %v", probe.Err))
	}
	if gpu >= len(probe.GPUs) {
		return useCPU(fmt.Sprintf("--gpu %d, but NVML found %d GPUs", gpu, len(probe.GPUs)))
	}
	start := time.Now()
	c, err := cuda.New(m, prec, cuda.Options{Ordinal: gpu, MaxRows: max(maxRows, 1024)})
	if err != nil {
		if want == "cuda" {
			return nil, info, fmt.Errorf("--device cuda: %w", err)
		}
		info.GPUAvailable = false
		log.Warn("GPU found but the CUDA path failed; falling back to the CPU", "err", err)
		return useCPU(fmt.Sprintf("CUDA path failed: %v", err))
	}
	c.SetInfo(probe.GPUs[gpu])
	info.Reason = fmt.Sprintf("--device %s: GPU %d usable", want, gpu)
	d := c.Device()
	log.Info("using the CUDA path", "gpu", d.Name, "precision", d.Precision, "cublas", d.Library, "setup", time.Since(start).Round(time.Millisecond))
	return c, info, nil
}

var _ prometheus.Collector = (*device.Collector)(nil)
