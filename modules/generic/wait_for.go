package generic

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"path"
	"strconv"
	"time"

	"github.com/gpuctl/gpuctl/internal/pyre"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:    "wait_for",
		Summary: "Wait until a TCP port opens or closes, or a file appears or goes, as seen from the host",
		CheckMode: "Tests the condition once: nothing is reported when it already holds and no delay is asked for, " +
			"otherwise the delay and the change of state a real run would wait for. Never waits.",
		Example: `- name: Wait for the API server
  wait_for:
    port: 6443
    timeout: 120`,
		New: func() modules.Module { return &WaitFor{} },
	})
}

// WaitFor polls a condition on the host. Ports are dialled from the host
// itself, so host: 127.0.0.1 means the managed host's loopback.
type WaitFor struct {
	Host           string `yaml:"host" default:"127.0.0.1" doc:"address to connect to, resolved and dialled from the managed host"`
	Port           int    `yaml:"port" doc:"TCP port to wait for"`
	Path           string `yaml:"path" doc:"file to wait for, instead of port"`
	State          string `yaml:"state" default:"started" choices:"started,stopped,present,absent" doc:"started/present: port open or file exists; stopped/absent: port closed or file gone"`
	SearchRegex    string `yaml:"search_regex" doc:"with state=started/present, also wait until the file's contents (or the port's greeting) match this regexp"`
	Timeout        int    `yaml:"timeout" default:"300" doc:"seconds to wait before failing; with neither port nor path, simply sleep this long"`
	Delay          int    `yaml:"delay" doc:"seconds to wait before the first test"`
	Sleep          int    `yaml:"sleep" default:"1" doc:"seconds between tests"`
	ConnectTimeout int    `yaml:"connect_timeout" default:"5" doc:"seconds each connection attempt may take"`
	Msg            string `yaml:"msg" doc:"error message when the timeout is reached"`

	re      *pyre.Regexp
	delayed bool
	elapsed time.Duration
}

func (m *WaitFor) Validate() error {
	switch {
	case m.Port != 0 && m.Path != "":
		return errors.New("port and path are mutually exclusive")
	case m.Port < 0 || m.Port > 65535:
		return fmt.Errorf("port %d is out of range", m.Port)
	case m.Path != "" && !path.IsAbs(m.Path):
		return fmt.Errorf("path %q must be absolute", m.Path)
	case m.Timeout < 0 || m.Delay < 0 || m.Sleep < 0 || m.ConnectTimeout <= 0:
		return errors.New("timeout, delay and sleep must not be negative; connect_timeout must be positive")
	case m.SearchRegex != "" && (m.State == "stopped" || m.State == "absent"):
		return errors.New("search_regex needs state=started or present")
	case m.SearchRegex != "" && m.Port == 0 && m.Path == "":
		return errors.New("search_regex needs port or path")
	}
	if m.SearchRegex != "" {
		re, err := pyre.Compile(m.SearchRegex, pyre.Multiline)
		if err != nil {
			return fmt.Errorf("search_regex: %w", err)
		}
		m.re = re
	}
	return nil
}

// Unverified: a bare sleep has nothing to observe afterwards.
func (m *WaitFor) Unverified() bool { return m.Port == 0 && m.Path == "" }

func (m *WaitFor) Reads() []string {
	if m.Path != "" {
		return []string{m.Path}
	}
	return nil
}

func (m *WaitFor) Result() map[string]any {
	r := map[string]any{"elapsed": int(m.elapsed.Seconds()), "state": m.State}
	if m.Port != 0 {
		r["port"] = m.Port
	}
	if m.Path != "" {
		r["path"] = m.Path
	}
	return r
}

func (m *WaitFor) want() bool { return m.State == "started" || m.State == "present" }

func (m *WaitFor) target() string {
	if m.Port != 0 {
		return "port:" + net.JoinHostPort(m.Host, strconv.Itoa(m.Port))
	}
	return "path:" + m.Path
}

func (m *WaitFor) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	var d plan.Diff
	if m.Port == 0 && m.Path == "" {
		d.Add(plan.Change{Resource: "wait_for", Action: plan.Run, After: fmt.Sprintf("sleep %ds", m.Timeout)})
		return d, nil
	}
	if m.Delay > 0 && !m.delayed {
		// The delay is part of what a run does (the condition may still
		// hold from before a reboot), so it is planned, and Apply waits it
		// out before polling; Check itself never waits.
		d.Add(plan.Change{Resource: "wait_for:" + m.target(), Action: plan.Run, Field: "delay", After: fmt.Sprintf("wait %ds before the first test", m.Delay)})
	}
	ok, err := m.holds(ctx, h)
	if err != nil {
		return d, err
	}
	if ok {
		return d, nil // with a delay still to wait, d holds it
	}
	before, after := "stopped", "started"
	if m.Path != "" {
		before, after = "absent", "present"
	}
	if !m.want() {
		before, after = after, before
	}
	if m.re != nil && m.want() {
		after += " matching " + m.SearchRegex
	}
	d.Add(plan.Change{Resource: "wait_for:" + m.target(), Action: plan.Update, Field: "state", Before: before, After: after})
	return d, nil
}

func (m *WaitFor) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	if d.Empty() {
		return nil // Check found nothing to do
	}
	start := time.Now()
	defer func() { m.elapsed = time.Since(start) }()
	if m.Port == 0 && m.Path == "" {
		return sleep(ctx, time.Duration(m.Timeout)*time.Second)
	}
	if m.Delay > 0 && !m.delayed {
		m.delayed = true
		if err := sleep(ctx, time.Duration(m.Delay)*time.Second); err != nil {
			return err
		}
	}
	deadline := start.Add(time.Duration(m.Timeout) * time.Second)
	for {
		ok, err := m.holds(ctx, h)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if !time.Now().Before(deadline) {
			msg := m.Msg
			if msg == "" {
				msg = fmt.Sprintf("timeout after %ds waiting for %s to be %s", m.Timeout, m.target(), m.State)
			}
			return errors.New(msg)
		}
		wait := time.Duration(max(m.Sleep, 0)) * time.Second
		if wait == 0 {
			wait = 100 * time.Millisecond
		}
		if err := sleep(ctx, min(wait, time.Until(deadline)+time.Millisecond)); err != nil {
			return err
		}
	}
}

// holds tests the condition once.
func (m *WaitFor) holds(ctx context.Context, h modules.Host) (bool, error) {
	if m.Path != "" {
		_, exists, err := stat(ctx, h, m.Path)
		if err != nil || !exists || m.re == nil {
			return exists == m.want(), err
		}
		b, err := h.Conn().ReadFile(ctx, m.Path)
		if err != nil {
			return false, nil // gone again between stat and read
		}
		return m.re.MatchString(string(b)), nil
	}
	cctx, cancel := context.WithTimeout(ctx, time.Duration(m.ConnectTimeout)*time.Second)
	defer cancel()
	c, err := h.Conn().Dial(cctx, "tcp", net.JoinHostPort(m.Host, strconv.Itoa(m.Port)))
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err != nil {
		return !m.want(), nil
	}
	defer c.Close()
	if m.re == nil || !m.want() {
		return m.want(), nil
	}
	// Read the greeting until it matches or the connect timeout ends.
	dl, _ := cctx.Deadline()
	c.SetReadDeadline(dl)
	var buf bytes.Buffer
	chunk := make([]byte, 4096)
	for buf.Len() < 1<<20 {
		n, err := c.Read(chunk)
		buf.Write(chunk[:n])
		if m.re.MatchString(buf.String()) {
			return true, nil
		}
		if err != nil {
			return false, nil
		}
	}
	return false, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

var (
	_ modules.Module     = (*WaitFor)(nil)
	_ modules.Unverified = (*WaitFor)(nil)
	_ modules.Reader     = (*WaitFor)(nil)
	_ modules.Resulter   = (*WaitFor)(nil)
)
