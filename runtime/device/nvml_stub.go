//go:build !cgo || !linux

package device

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// ErrNoLibrary: see nvml.go; without cgo NVML cannot be loaded at all.
var ErrNoLibrary = errors.New("NVML unavailable: binary built without cgo")

// Detect reports no GPU: go-nvml needs cgo.
func Detect() Probe { return Probe{Err: ErrNoLibrary} }

// Close does nothing without NVML.
func Close() {}

// Collector reports nothing without NVML.
type Collector struct{}

func NewCollector() *Collector                           { return &Collector{} }
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {}
func (c *Collector) Collect(ch chan<- prometheus.Metric) {}
