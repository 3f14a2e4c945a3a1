package generic

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:    "pause",
		Summary: "Wait for a number of seconds or minutes; a prompt is shown but never waited for",
		CheckMode: "Waits as in a real run (Ansible does too: a pause often lets a service settle " +
			"before a check that follows); changes nothing.",
		Example: `- pause:
    seconds: 10`,
		New: func() modules.Module { return &Pause{} },
	})
}

// Pause waits. gpuctl runs without a terminal conversation with its
// modules, so a prompt is answered as Ansible answers one when stdin is
// not interactive: not waited for, user_input empty, with a warning.
type Pause struct {
	Seconds *int   `yaml:"seconds" doc:"seconds to wait"`
	Minutes *int   `yaml:"minutes" doc:"minutes to wait"`
	Prompt  string `yaml:"prompt" doc:"text shown; gpuctl does not wait for an answer"`
	Echo    bool   `yaml:"echo" default:"true" doc:"accepted for compatibility (no input is read)"`

	result  map[string]any
	message string
}

func (m *Pause) Validate() error {
	if m.Seconds != nil && m.Minutes != nil {
		return errors.New("seconds and minutes are mutually exclusive")
	}
	for _, v := range []*int{m.Seconds, m.Minutes} {
		if v != nil && *v < 0 {
			return fmt.Errorf("a pause cannot be negative (%d)", *v)
		}
	}
	return nil
}

func (m *Pause) wait() time.Duration {
	switch {
	case m.Seconds != nil:
		return time.Duration(*m.Seconds) * time.Second
	case m.Minutes != nil:
		return time.Duration(*m.Minutes) * time.Minute
	}
	return 0
}

// Check does the waiting: a pause changes nothing, so there is no Apply.
func (m *Pause) Check(ctx context.Context, _ modules.Host) (plan.Diff, error) {
	start := time.Now()
	d := m.wait()
	stdout := "Paused for 0.0 minutes"
	switch {
	case d > 0:
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return plan.Diff{}, ctx.Err()
		}
		if m.Minutes != nil {
			stdout = fmt.Sprintf("Paused for %.1f minutes", d.Minutes())
		} else {
			stdout = fmt.Sprintf("Paused for %.1f seconds", d.Seconds())
		}
	case m.Prompt != "" || m.Seconds == nil && m.Minutes == nil:
		m.message = "Not waiting for response to prompt as stdin is not interactive"
	}
	stop := time.Now()
	m.result = map[string]any{"start": start.Format("2006-01-02 15:04:05.000000"), "stop": stop.Format("2006-01-02 15:04:05.000000"),
		"delta": int(stop.Sub(start).Seconds()), "echo": m.Echo, "rc": 0, "stderr": "", "stdout": stdout, "user_input": ""}
	return plan.Diff{}, nil
}

func (m *Pause) Apply(context.Context, modules.Host, plan.Diff) error { return nil }

func (m *Pause) Result() map[string]any { return m.result }

func (m *Pause) Message() string { return m.message }

var (
	_ modules.Module   = (*Pause)(nil)
	_ modules.Resulter = (*Pause)(nil)
	_ modules.Messager = (*Pause)(nil)
)
