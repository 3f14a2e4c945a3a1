package engine

import (
	"time"

	"github.com/gpuctl/gpuctl/plan"
)

// Status is the outcome of one task on one host.
type Status string

const (
	StatusOK          Status = "ok"
	StatusChanged     Status = "changed" // applied, or would change in check mode
	StatusFailed      Status = "failed"
	StatusSkipped     Status = "skipped"
	StatusUnreachable Status = "unreachable"
	StatusUnknown     Status = "unknown" // check mode: known after apply
	StatusIgnored     Status = "ignored" // failed, with ignore_errors
)

// EventType says what an Event reports.
type EventType string

const (
	EventPlayStart  EventType = "play_start"
	EventBatchStart EventType = "batch_start" // a serial batch starts: Hosts
	EventTaskDone   EventType = "task_done"   // linear: every host of the batch is past Task
	EventTaskStart  EventType = "task_start"
	EventTaskResult EventType = "task_result"
	EventTaskSlow   EventType = "task_running" // a task still running after a while
	EventHandlers   EventType = "handlers"
	EventWarning    EventType = "warning"
	EventRecap      EventType = "recap"
)

// Event is what the engine tells a Reporter. Renderers (text, JSON) turn
// events into output; the engine never prints.
type Event struct {
	Type   EventType  `json:"type"`
	Time   time.Time  `json:"time"`
	Play   string     `json:"play,omitempty"`
	Task   string     `json:"task,omitempty"`
	Module string     `json:"module,omitempty"`
	Pos    string     `json:"pos,omitempty"`
	Host   string     `json:"host,omitempty"`
	Hosts  []string   `json:"hosts,omitempty"`
	Status Status     `json:"status,omitempty"`
	Item   any        `json:"item,omitempty"`
	Msg    string     `json:"msg,omitempty"`
	Diff   *plan.Diff `json:"diff,omitempty"`
	// ShowDiff: the task's diff keyword asks for its diff without --diff
	ShowDiff bool          `json:"show_diff,omitempty"`
	Duration time.Duration `json:"duration_ns,omitempty"`
	Check    bool          `json:"check,omitempty"`
	Recap    *Recap        `json:"recap,omitempty"`
}

// Reporter receives events. Implementations must be safe for concurrent
// use: hosts run in parallel.
type Reporter interface {
	Event(Event)
}

// ReporterFunc adapts a function.
type ReporterFunc func(Event)

func (f ReporterFunc) Event(e Event) { f(e) }

// Counts are one host's tallies for the recap.
type Counts struct {
	OK          int `json:"ok"`
	Changed     int `json:"changed"`
	Failed      int `json:"failed"`
	Skipped     int `json:"skipped"`
	Unreachable int `json:"unreachable"`
	Unknown     int `json:"unknown"`
	Ignored     int `json:"ignored"`
	Rescued     int `json:"rescued"`
}

// add counts one task outcome.
func (c *Counts) add(s Status) {
	switch s {
	case StatusOK:
		c.OK++
	case StatusChanged:
		c.Changed++
	case StatusFailed:
		c.Failed++
	case StatusSkipped:
		c.Skipped++
	case StatusUnreachable:
		c.Unreachable++
	case StatusUnknown:
		c.Unknown++
	case StatusIgnored:
		c.Ignored++
	}
}

// rescue turns the failure a block's rescue section handled into a rescue.
func (c *Counts) rescue() {
	c.Failed--
	c.Rescued++
}

// Recap is the run's summary per host.
type Recap struct {
	Hosts    map[string]*Counts `json:"hosts"`
	Order    []string           `json:"order"`
	Check    bool               `json:"check"`
	Duration time.Duration      `json:"duration_ns"`
}

// Changed reports whether any host changed (or would change).
func (r *Recap) Changed() bool {
	for _, c := range r.Hosts {
		if c.Changed > 0 || c.Unknown > 0 {
			return true
		}
	}
	return false
}

// Failed reports whether any host failed or was unreachable.
func (r *Recap) Failed() bool {
	for _, c := range r.Hosts {
		if c.Failed > 0 || c.Unreachable > 0 {
			return true
		}
	}
	return false
}
