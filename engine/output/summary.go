package output

import (
	"fmt"
	"strings"
	"time"

	"github.com/gpuctl/gpuctl/engine"
)

// DefaultSummaryAbove is how many hosts a play may have before the text
// output turns to one summary line per task: past it, one line per host
// and task is more than anyone reads (200 hosts × 30 tasks).
const DefaultSummaryAbove = 10

// taskSummary tallies one task's results over the hosts of a batch.
type taskSummary struct {
	title   string
	check   bool
	counts  map[engine.Status]int
	slowest string
	longest time.Duration
}

// summaries keeps the tasks being tallied in the order they started; the
// linear strategy finishes one before the next, free may interleave.
type summaries struct {
	order []string
	byKey map[string]*taskSummary
}

func (s *summaries) add(ev engine.Event) {
	if ev.Task == "Connecting" {
		// the engine connects in the play's first step, with the facts
		ev.Task = "Gathering facts"
	}
	key := ev.Task + "\x00" + ev.Pos
	if s.byKey == nil {
		s.byKey = map[string]*taskSummary{}
	}
	ts, ok := s.byKey[key]
	if !ok {
		ts = &taskSummary{title: ev.Task, check: ev.Check, counts: map[engine.Status]int{}}
		s.byKey[key] = ts
		s.order = append(s.order, key)
	}
	ts.counts[ev.Status]++
	if ev.Duration > ts.longest {
		ts.longest, ts.slowest = ev.Duration, ev.Host
	}
}

// take returns the tallies kept so far, oldest first, and forgets them.
func (s *summaries) take() []*taskSummary {
	out := make([]*taskSummary, 0, len(s.order))
	for _, k := range s.order {
		out = append(out, s.byKey[k])
	}
	s.order, s.byKey = nil, nil
	return out
}

// summarizing reports whether the current play prints summary lines.
func (t *Text) summarizing() bool { return t.summary }

// startPlay picks the output mode for a play from its host count.
func (t *Text) startPlay(ev engine.Event) {
	above := t.SummaryAbove
	if above == 0 {
		above = DefaultSummaryAbove
	}
	t.flushSummaries()
	t.summary = above > 0 && len(ev.Hosts) > above
	t.playHosts = len(ev.Hosts)
}

// perHost reports whether a result gets its own line in summary mode:
// failures always (with their message), changes with --diff, everything
// with -v.
func (t *Text) perHost(ev engine.Event) bool {
	switch ev.Status {
	case engine.StatusFailed, engine.StatusUnreachable, engine.StatusIgnored:
		return true
	case engine.StatusChanged, engine.StatusUnknown:
		return t.Diff || t.Verbose
	}
	return t.Verbose
}

func (t *Text) flushSummaries() {
	for _, ts := range t.sums.take() {
		t.summaryLine(ts)
	}
}

func (t *Text) summaryLine(ts *taskSummary) {
	changed := "changed"
	if ts.check {
		changed = "would change"
	}
	c := ts.counts
	parts := []string{
		t.paint(statusColor[engine.StatusOK], fmt.Sprintf("ok=%d", c[engine.StatusOK])),
		t.paint(statusColor[engine.StatusChanged], fmt.Sprintf("%s=%d", changed, c[engine.StatusChanged])),
		t.paint(statusColor[engine.StatusFailed], fmt.Sprintf("failed=%d", c[engine.StatusFailed])),
		fmt.Sprintf("skipped=%d", c[engine.StatusSkipped]),
		t.paint(statusColor[engine.StatusUnreachable], fmt.Sprintf("unreachable=%d", c[engine.StatusUnreachable])),
	}
	for _, st := range []engine.Status{engine.StatusUnknown, engine.StatusIgnored} {
		if c[st] > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", st, c[st]))
		}
	}
	line := fmt.Sprintf("TASK [%s] %s", ts.title, strings.Join(parts, " "))
	if ts.longest >= time.Second {
		line += t.paint("\x1b[2m", fmt.Sprintf(" slowest: %s %.1fs", ts.slowest, ts.longest.Seconds()))
	}
	fmt.Fprintln(t.W, line)
}

// slowOnce prints a still-running notice once per task and interval in
// summary mode, rather than once per host.
func (t *Text) slowOnce(ev engine.Event) {
	key := fmt.Sprintf("%s\x00%d", ev.Task, ev.Duration/(5*time.Second))
	if t.slowSeen == nil {
		t.slowSeen = map[string]bool{}
	}
	if t.slowSeen[key] {
		return
	}
	t.slowSeen[key] = true
	fmt.Fprintf(t.W, "  %s [%s] still running on %s and maybe others (%s)\n", t.paint("\x1b[2m", "…"), ev.Task, ev.Host, ev.Duration.Round(time.Second))
}

// hostList names a play's hosts, shortened past the summary threshold.
func (t *Text) hostList(hosts []string) string {
	if !t.summary || len(hosts) <= 3 {
		return strings.Join(hosts, ", ")
	}
	return fmt.Sprintf("%d hosts (%s, %s, …, %s)", len(hosts), hosts[0], hosts[1], hosts[len(hosts)-1])
}
