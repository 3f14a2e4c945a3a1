package server

import (
	"math"
	"net/http"
	rtmetrics "runtime/metrics"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics lives on its own registry, not the global one, so tests can run
// several servers in one process.
type metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	failures  *prometheus.CounterVec
	total     *prometheus.HistogramVec
	queue     prometheus.Histogram
	compute   prometheus.Histogram
	batchRows prometheus.Histogram
	inflight  prometheus.Gauge
	ready     prometheus.Gauge
	conns     prometheus.Gauge
	handler   http.Handler
}

// latencyBuckets span 50µs to 10s so p99 is readable both for the tiny
// default model on a CPU and for large batches.
var latencyBuckets = []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

func newMetrics(gpu prometheus.Collector) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gpuctl_serve_requests_total", Help: "HTTP requests by endpoint and status code.",
		}, []string{"endpoint", "code"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gpuctl_serve_request_failures_total", Help: "Requests answered with an error, by endpoint and reason (client, nonfinite, overload, timeout, canceled, internal).",
		}, []string{"endpoint", "reason"}),
		total: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gpuctl_serve_request_duration_seconds", Help: "Time from request start to response written, by endpoint.", Buckets: latencyBuckets,
		}, []string{"endpoint"}),
		queue: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "gpuctl_serve_queue_duration_seconds", Help: "Time a request waited for the batcher.", Buckets: latencyBuckets,
		}),
		compute: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "gpuctl_serve_compute_duration_seconds", Help: "Time of one forward pass over a batch.", Buckets: latencyBuckets,
		}),
		batchRows: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "gpuctl_serve_batch_rows", Help: "Rows per forward pass.", Buckets: prometheus.ExponentialBuckets(1, 2, 14),
		}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{Name: "gpuctl_serve_inflight_requests", Help: "Requests being served now."}),
		ready:    prometheus.NewGauge(prometheus.GaugeOpts{Name: "gpuctl_serve_ready", Help: "1 while the server accepts inference, 0 while starting or draining."}),
		conns:    prometheus.NewGauge(prometheus.GaugeOpts{Name: "gpuctl_serve_open_connections", Help: "Connections held under the connection cap (--max-conns)."}),
	}
	memLimit := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "gpuctl_serve_memory_limit_bytes", Help: "The Go runtime's soft memory limit (GOMEMLIMIT, --memory-limit or the cgroup's); 0 when none.",
	}, func() float64 {
		v := runtimeValue("/gc/gomemlimit:bytes")
		if v >= math.MaxInt64 {
			return 0
		}
		return v
	})
	gcPercent := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "gpuctl_serve_gc_percent", Help: "GOGC in effect: the heap grows this many percent over the live heap before a collection.",
	}, func() float64 { return runtimeValue("/gc/gogc:percent") })
	m.reg.MustRegister(m.requests, m.failures, m.total, m.queue, m.compute, m.batchRows, m.inflight, m.ready, m.conns, memLimit, gcPercent,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if gpu != nil {
		m.reg.MustRegister(gpu)
	}
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
	return m
}

// runtimeValue reads one runtime metric, which costs no stop-the-world.
func runtimeValue(name string) float64 {
	s := []rtmetrics.Sample{{Name: name}}
	rtmetrics.Read(s)
	if s[0].Value.Kind() != rtmetrics.KindUint64 {
		return 0
	}
	return float64(s[0].Value.Uint64())
}
