//go:build cgo && linux

package device

import (
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/gpuctl/gpuctl/runtime/backend"
	"github.com/prometheus/client_golang/prometheus"
)

// ErrNoLibrary means libnvidia-ml is not installed: a machine with no
// NVIDIA driver, the usual case on CI and laptops.
var ErrNoLibrary = errors.New("NVML library libnvidia-ml.so.1 not found (no NVIDIA driver)")

// Detect initialises NVML, lists the GPUs, and leaves NVML initialised
// when it found some, for the metrics collector; Close shuts it down.
func Detect() (p Probe) {
	defer func() {
		// go-nvml panics on some broken installs (a library without the
		// symbols it expects); that must mean "no GPU", not a crash.
		if r := recover(); r != nil {
			p = Probe{Err: fmt.Errorf("NVML: %v", r)}
		}
	}()
	if ret := nvml.Init(); ret != nvml.SUCCESS {
		if ret == nvml.ERROR_LIBRARY_NOT_FOUND {
			return Probe{Err: ErrNoLibrary}
		}
		return Probe{Err: fmt.Errorf("NVML init: %s", nvml.ErrorString(ret))}
	}
	if v, ret := nvml.SystemGetDriverVersion(); ret == nvml.SUCCESS {
		p.Driver = v
	}
	if v, ret := nvml.SystemGetCudaDriverVersion(); ret == nvml.SUCCESS {
		p.CUDA = cudaVersion(v)
	}
	n, ret := nvml.DeviceGetCount()
	if ret != nvml.SUCCESS {
		nvml.Shutdown()
		return Probe{Driver: p.Driver, CUDA: p.CUDA, Err: fmt.Errorf("NVML device count: %s", nvml.ErrorString(ret))}
	}
	for i := 0; i < n; i++ {
		d, ret := nvml.DeviceGetHandleByIndex(i)
		if ret != nvml.SUCCESS {
			continue
		}
		g := backend.Device{Kind: "cuda", Driver: p.Driver, CUDA: p.CUDA}
		g.Name, _ = d.GetName()
		g.UUID, _ = d.GetUUID()
		if m, ret := d.GetMemoryInfo(); ret == nvml.SUCCESS {
			g.MemoryTotal = m.Total
		}
		p.GPUs = append(p.GPUs, g)
	}
	if len(p.GPUs) == 0 {
		nvml.Shutdown()
		p.Err = errors.New("NVML found no GPU")
	}
	return p
}

// Close shuts NVML down after a successful Detect.
func Close() { nvml.Shutdown() }

// Collector reports each GPU's utilisation and memory at scrape time.
type Collector struct {
	mu   sync.Mutex
	util *prometheus.Desc
	used *prometheus.Desc
	tot  *prometheus.Desc
}

// NewCollector needs NVML initialised (a usable Detect).
func NewCollector() *Collector {
	l := []string{"gpu", "uuid", "name"}
	return &Collector{
		util: prometheus.NewDesc("gpuctl_gpu_utilization_ratio", "GPU busy fraction over NVML's last sample period.", l, nil),
		used: prometheus.NewDesc("gpuctl_gpu_memory_used_bytes", "GPU memory in use.", l, nil),
		tot:  prometheus.NewDesc("gpuctl_gpu_memory_total_bytes", "GPU memory in total.", l, nil),
	}
}

func (c *Collector) Describe(ch chan<- *prometheus.Desc) { ch <- c.util; ch <- c.used; ch <- c.tot }

func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ret := nvml.DeviceGetCount()
	if ret != nvml.SUCCESS {
		return
	}
	for i := 0; i < n; i++ {
		d, ret := nvml.DeviceGetHandleByIndex(i)
		if ret != nvml.SUCCESS {
			continue
		}
		name, _ := d.GetName()
		uuid, _ := d.GetUUID()
		lv := []string{strconv.Itoa(i), uuid, name}
		if u, ret := d.GetUtilizationRates(); ret == nvml.SUCCESS {
			ch <- prometheus.MustNewConstMetric(c.util, prometheus.GaugeValue, float64(u.Gpu)/100, lv...)
		}
		if m, ret := d.GetMemoryInfo(); ret == nvml.SUCCESS {
			ch <- prometheus.MustNewConstMetric(c.used, prometheus.GaugeValue, float64(m.Used), lv...)
			ch <- prometheus.MustNewConstMetric(c.tot, prometheus.GaugeValue, float64(m.Total), lv...)
		}
	}
}
