//go:build cgo && linux

package device

import (
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// active is the NVML a usable Detect left initialised. NVML's state is per
// process (nvmlInit counts references), so the handle is too; Close and
// NewCollector use it.
var active struct {
	mu  sync.Mutex
	lib *library
}

// Detect initialises NVML, lists the GPUs, and leaves NVML initialised
// when it found some, for the metrics collector; Close shuts it down.
func Detect() Probe {
	p, l := detect(libName)
	if l != nil {
		active.mu.Lock()
		if active.lib != nil {
			l.shutdown() // initialised already: keep one reference
		} else {
			active.lib = l
		}
		active.mu.Unlock()
	}
	return p
}

// Close shuts NVML down after a successful Detect.
func Close() {
	active.mu.Lock()
	defer active.mu.Unlock()
	if active.lib != nil {
		active.lib.shutdown()
		active.lib = nil
	}
}

type descs struct{ util, used, tot *prometheus.Desc }

func newDescs() descs {
	l := []string{"gpu", "uuid", "name"}
	return descs{
		util: prometheus.NewDesc("gpuctl_gpu_utilization_ratio", "GPU busy fraction over NVML's last sample period.", l, nil),
		used: prometheus.NewDesc("gpuctl_gpu_memory_used_bytes", "GPU memory in use.", l, nil),
		tot:  prometheus.NewDesc("gpuctl_gpu_memory_total_bytes", "GPU memory in total.", l, nil),
	}
}

// Collector reports each GPU's utilisation and memory at scrape time.
type Collector struct {
	mu  sync.Mutex
	lib *library
	descs
}

// NewCollector needs NVML initialised (a usable Detect).
func NewCollector() *Collector {
	active.mu.Lock()
	defer active.mu.Unlock()
	return &Collector{lib: active.lib, descs: newDescs()}
}

func (c *Collector) Describe(ch chan<- *prometheus.Desc) { ch <- c.util; ch <- c.used; ch <- c.tot }

func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lib == nil {
		return
	}
	l := c.lib
	n, err := l.deviceCount()
	if err != nil {
		return
	}
	for i := 0; i < n; i++ {
		d, ok := l.device(i)
		if !ok {
			continue
		}
		lv := []string{strconv.Itoa(i), l.devStr(l.deviceUUID, d, uuidBuf), l.devStr(l.deviceName, d, nameBuf)}
		if busy, ok := l.utilization(d); ok {
			ch <- prometheus.MustNewConstMetric(c.util, prometheus.GaugeValue, busy, lv...)
		}
		if m, ok := l.memory(d); ok {
			ch <- prometheus.MustNewConstMetric(c.used, prometheus.GaugeValue, float64(m.used), lv...)
			ch <- prometheus.MustNewConstMetric(c.tot, prometheus.GaugeValue, float64(m.total), lv...)
		}
	}
}
