// Package output renders engine events for people (text) and programs
// (JSON lines). Rendering lives here so the engine never prints.
package output

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gpuctl/gpuctl/engine"
	"github.com/gpuctl/gpuctl/plan"
)

// Text prints one line per task and host, diffs when asked, and the recap.
// For a play on more than SummaryAbove hosts it prints one summary line
// per task instead, plus a line per host for failures (and for changes
// with Diff, for everything with Verbose).
type Text struct {
	W       io.Writer
	Color   bool
	Diff    bool
	Verbose bool
	// SummaryAbove is the host count past which tasks are summarized: 0
	// means DefaultSummaryAbove, negative never.
	SummaryAbove int
	mu           sync.Mutex
	secrets      func() []string
	// summary mode state (summary.go)
	summary   bool
	playHosts int
	sums      summaries
	slowSeen  map[string]bool
}

// NewText returns a text renderer.
func NewText(w io.Writer, color, diff bool) *Text {
	return &Text{W: w, Color: color, Diff: diff}
}

func (t *Text) style() plan.Style {
	if t.Color {
		return plan.ColorStyle
	}
	return plan.Style{}
}

func (t *Text) paint(col, s string) string {
	if !t.Color || col == "" {
		return s
	}
	return col + s + "\x1b[0m"
}

var statusColor = map[engine.Status]string{
	engine.StatusOK:          "\x1b[32m",
	engine.StatusChanged:     "\x1b[33m",
	engine.StatusFailed:      "\x1b[31m",
	engine.StatusUnreachable: "\x1b[31;1m",
	engine.StatusSkipped:     "\x1b[36m",
	engine.StatusUnknown:     "\x1b[35m",
	engine.StatusIgnored:     "\x1b[31m",
}

// Event implements engine.Reporter.
func (t *Text) Event(ev engine.Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch ev.Type {
	case engine.EventPlayStart:
		t.startPlay(ev)
		mode := ""
		if ev.Check {
			mode = " (check mode: nothing will be changed)"
		}
		fmt.Fprintf(t.W, "\n%s%s\n", t.paint("\x1b[1m", "PLAY ["+ev.Play+"] on "+t.hostList(ev.Hosts)), mode)
	case engine.EventBatchStart:
		t.flushSummaries()
		if len(ev.Hosts) < t.playHosts {
			fmt.Fprintf(t.W, "%s\n", t.paint("\x1b[1m", "BATCH of "+t.hostList(ev.Hosts)))
		}
	case engine.EventTaskResult:
		if !t.summarizing() {
			t.result(ev)
			break
		}
		t.sums.add(ev)
		if t.perHost(ev) {
			t.result(ev)
		}
	case engine.EventTaskDone:
		t.flushSummaries()
	case engine.EventTaskSlow:
		if t.summarizing() {
			t.slowOnce(ev)
			break
		}
		fmt.Fprintf(t.W, "  %s [%s] %s still running (%s)\n", t.paint("\x1b[2m", "…"), ev.Host, ev.Task, ev.Duration.Round(time.Second))
	case engine.EventWarning:
		fmt.Fprintf(t.W, "%s %s\n", t.paint("\x1b[35m", "[WARNING]"), ev.Msg)
	case engine.EventRecap:
		t.flushSummaries()
		t.recap(ev.Recap)
	}
}

func (t *Text) result(ev engine.Event) {
	label := string(ev.Status)
	if ev.Check && ev.Status == engine.StatusChanged {
		label = "would change"
	}
	if ev.Status == engine.StatusUnknown {
		label = "unknown"
	}
	line := fmt.Sprintf("%-13s [%s] %s", t.paint(statusColor[ev.Status], label+":"), ev.Host, ev.Task)
	if ev.Item != nil {
		line += fmt.Sprintf(" (item=%v)", compact(ev.Item))
	}
	if ev.Duration >= time.Second {
		line += t.paint("\x1b[2m", fmt.Sprintf(" %.1fs", ev.Duration.Seconds()))
	}
	fmt.Fprintln(t.W, line)
	if ev.Msg != "" && ev.Status != engine.StatusUnknown {
		for _, l := range strings.Split(strings.TrimRight(ev.Msg, "\n"), "\n") {
			fmt.Fprintf(t.W, "    %s\n", l)
		}
		if ev.Status == engine.StatusFailed && ev.Pos != "" {
			fmt.Fprintf(t.W, "    %s\n", t.paint("\x1b[2m", "at "+ev.Pos))
		}
	}
	if ev.Diff != nil && (t.Diff || ev.Diff.Unknown != "" || ev.ShowDiff) {
		plan.WriteText(t.W, *ev.Diff, nil, "    ", t.style())
	}
}

func compact(v any) string {
	s := fmt.Sprint(v)
	if len(s) > 60 {
		s = s[:60] + "…"
	}
	return s
}

func (t *Text) recap(r *engine.Recap) {
	if r == nil {
		return
	}
	title := "RECAP"
	if r.Check {
		title = "RECAP (check mode: nothing was changed)"
	}
	fmt.Fprintf(t.W, "\n%s\n", t.paint("\x1b[1m", title))
	hosts := append([]string{}, r.Order...)
	if len(hosts) == 0 {
		for h := range r.Hosts {
			hosts = append(hosts, h)
		}
		sort.Strings(hosts)
	}
	width := 4
	for _, h := range hosts {
		width = max(width, len(h))
	}
	changed := "changed"
	if r.Check {
		changed = "would change"
	}
	for _, h := range hosts {
		c := r.Hosts[h]
		col := statusColor[engine.StatusOK]
		switch {
		case c.Failed > 0 || c.Unreachable > 0:
			col = statusColor[engine.StatusFailed]
		case c.Changed > 0 || c.Unknown > 0:
			col = statusColor[engine.StatusChanged]
		}
		fmt.Fprintf(t.W, "%s  ok=%-4d %s=%-4d unknown=%-3d failed=%-3d skipped=%-3d unreachable=%-2d ignored=%-2d rescued=%d\n",
			t.paint(col, fmt.Sprintf("%-*s", width, h)), c.OK, changed, c.Changed, c.Unknown, c.Failed, c.Skipped, c.Unreachable, c.Ignored, c.Rescued)
	}
	fmt.Fprintf(t.W, "%s\n", t.paint("\x1b[2m", fmt.Sprintf("finished in %.1fs", r.Duration.Seconds())))
}
