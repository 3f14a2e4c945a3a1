package server

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
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
			Name: "gpuctl_serve_request_failures_total", Help: "Requests answered with an error, by endpoint and reason (client, overload, timeout, internal).",
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
	}
	m.reg.MustRegister(m.requests, m.failures, m.total, m.queue, m.compute, m.batchRows, m.inflight, m.ready,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if gpu != nil {
		m.reg.MustRegister(gpu)
	}
	return m
}
