package output

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gpuctl/gpuctl/engine"
	"github.com/gpuctl/gpuctl/plan"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// fleetEvents is what the engine emits for a linear play on n hosts: facts,
// a task changing every third host, a task failing on h2 and unreachable
// h5, then the recap.
func fleetEvents(n int) []engine.Event {
	var hosts []string
	for i := 1; i <= n; i++ {
		hosts = append(hosts, fmt.Sprintf("h%d", i))
	}
	evs := []engine.Event{{Type: engine.EventPlayStart, Play: "prepare nodes", Hosts: hosts}, {Type: engine.EventBatchStart, Play: "prepare nodes", Hosts: hosts}}
	recap := &engine.Recap{Hosts: map[string]*engine.Counts{}, Order: hosts, Duration: 42 * time.Second}
	result := func(task, pos, host string, st engine.Status, msg string, dur time.Duration, d *plan.Diff) {
		evs = append(evs, engine.Event{Type: engine.EventTaskResult, Play: "prepare nodes", Task: task, Pos: pos, Host: host, Status: st, Msg: msg, Duration: dur, Diff: d})
	}
	for i, h := range hosts {
		recap.Hosts[h] = &engine.Counts{}
		if h == "h5" {
			result("Connecting", "site.yaml:1", h, engine.StatusUnreachable, "dial tcp 10.0.0.5:22: connect: no route to host", 0, nil)
			recap.Hosts[h].Unreachable = 1
			continue
		}
		result("Gathering facts", "site.yaml:1", h, engine.StatusOK, "", time.Duration(i%4)*400*time.Millisecond, nil)
		recap.Hosts[h].OK++
	}
	evs = append(evs, engine.Event{Type: engine.EventTaskDone, Play: "prepare nodes", Task: "Gathering facts"})
	for i, h := range hosts {
		if h == "h5" {
			continue
		}
		if i%3 == 0 {
			d := &plan.Diff{Changes: []plan.Change{{Resource: "file:/etc/modules-load.d/k8s.conf", Action: plan.Update, Field: "content", Before: "", After: "br_netfilter\n"}}}
			result("kernel modules", "site.yaml:5", h, engine.StatusChanged, "", time.Duration(i)*100*time.Millisecond, d)
			recap.Hosts[h].Changed++
		} else {
			result("kernel modules", "site.yaml:5", h, engine.StatusOK, "", 0, nil)
			recap.Hosts[h].OK++
		}
	}
	evs = append(evs, engine.Event{Type: engine.EventTaskDone, Play: "prepare nodes", Task: "kernel modules"})
	for _, h := range hosts {
		switch h {
		case "h5":
		case "h2":
			result("swap off", "site.yaml:9", h, engine.StatusFailed, "swapoff -a: exit status 1", 0, nil)
			recap.Hosts[h].Failed++
		default:
			result("swap off", "site.yaml:9", h, engine.StatusSkipped, "", 0, nil)
			recap.Hosts[h].Skipped++
		}
	}
	evs = append(evs, engine.Event{Type: engine.EventTaskDone, Play: "prepare nodes", Task: "swap off"})
	return append(evs, engine.Event{Type: engine.EventRecap, Recap: recap})
}

func TestTextGolden(t *testing.T) {
	cases := []struct {
		name          string
		hosts         int
		diff, verbose bool
	}{
		{"per-host-10", 10, false, false}, // at the threshold: one line per host, as always
		{"summary-12", 12, false, false},  // past it: a line per task, failures in full
		{"summary-12-diff", 12, true, false},
		{"summary-12-verbose", 12, false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			txt := NewText(&buf, false, c.diff)
			txt.Verbose = c.verbose
			for _, ev := range fleetEvents(c.hosts) {
				txt.Event(ev)
			}
			golden(t, filepath.Join("testdata", c.name+".golden"), buf.Bytes())
		})
	}
}

// TestSummaryWithoutTaskDone: under strategy free no task_done comes; the
// tallies are printed before the recap, in the order tasks started.
func TestSummaryWithoutTaskDone(t *testing.T) {
	var buf bytes.Buffer
	txt := NewText(&buf, false, false)
	for _, ev := range fleetEvents(12) {
		if ev.Type != engine.EventTaskDone {
			txt.Event(ev)
		}
	}
	golden(t, filepath.Join("testdata", "summary-12-free.golden"), buf.Bytes())
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("output differs from %s:\n%s", path, got)
	}
}
