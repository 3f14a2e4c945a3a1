package engine_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gpuctl/gpuctl/conn/local"
	"github.com/gpuctl/gpuctl/engine"
	"github.com/gpuctl/gpuctl/inventory"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
	"github.com/gpuctl/gpuctl/playbooks"
)

// traceMod records when each host starts and ends a step, so tests can
// prove how the engine orders hosts and tasks. It sleeps sleep_ms first
// and fails when fail is true.
type traceMod struct {
	Log     string `yaml:"log" required:"true"`
	Step    string `yaml:"step"`
	SleepMS int    `yaml:"sleep_ms"`
	Fail    bool   `yaml:"fail"`
}

var traces sync.Map // log name → *traceLog

type traceLog struct {
	mu      sync.Mutex
	lines   []string
	running int
	peak    int
}

func traceOf(name string) *traceLog {
	v, _ := traces.LoadOrStore(name, &traceLog{})
	return v.(*traceLog)
}

func (l *traceLog) add(line string, delta int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, line)
	l.running += delta
	l.peak = max(l.peak, l.running)
}

func (l *traceLog) snapshot() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.lines)
}

func (m *traceMod) Validate() error { return nil }
func (m *traceMod) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	l := traceOf(m.Log)
	l.add("start "+m.Step+" "+h.Name(), 1)
	time.Sleep(time.Duration(m.SleepMS) * time.Millisecond)
	l.add("end "+m.Step+" "+h.Name(), -1)
	if m.Fail {
		return plan.Diff{}, fmt.Errorf("step %s failed as asked", m.Step)
	}
	return plan.Diff{}, nil
}
func (m *traceMod) Apply(context.Context, modules.Host, plan.Diff) error { return nil }

func init() {
	modules.Register(modules.Info{Name: "etest_trace", Summary: "test", New: func() modules.Module { return &traceMod{} }})
}

// fleetRun runs pbYAML against n local hosts h1..hn. A trace log named
// after the test is the playbook's LOG.
func fleetRun(t *testing.T, n int, pbYAML string, opt engine.Options) (*engine.Recap, *recorder, *traceLog, error) {
	t.Helper()
	var inv strings.Builder
	inv.WriteString("all:\n  hosts:\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&inv, "    h%d: {ansible_connection: local}\n", i)
	}
	dir := t.TempDir()
	logName := t.Name() + fmt.Sprint(time.Now().UnixNano())
	pbYAML = strings.ReplaceAll(strings.ReplaceAll(pbYAML, "LOG", logName), "DIR", dir)
	path := filepath.Join(dir, "pb.yaml")
	if err := os.WriteFile(path, []byte(pbYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	in, err := inventory.Parse("inv.yaml", []byte(inv.String()))
	if err != nil {
		t.Fatal(err)
	}
	pb, err := (&playbooks.Loader{}).Load(path)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	opt.Reporter, opt.Local = rec, local.New()
	recap, err := engine.New(in, opt).Run(context.Background(), pb)
	return recap, rec, traceOf(logName), err
}

// index is the position of the first line with prefix, or -1.
func index(lines []string, prefix string, last bool) int {
	at := -1
	for i, l := range lines {
		if strings.HasPrefix(l, prefix) {
			at = i
			if !last {
				return i
			}
		}
	}
	return at
}

const threeSteps = `
- hosts: all
  gather_facts: false
  STRATEGY
  tasks:
    - etest_trace: {log: LOG, step: one, sleep_ms: "{{ 150 if inventory_hostname == 'h1' else 0 }}"}
    - etest_trace: {log: LOG, step: two}
    - etest_trace: {log: LOG, step: three}
`

// TestLinearIsTheDefault: with no strategy, every host ends a task before
// any host starts the next, even when one host is much slower.
func TestLinearIsTheDefault(t *testing.T) {
	for _, strategy := range []string{"", "strategy: linear"} {
		_, _, tr, err := fleetRun(t, 4, strings.Replace(threeSteps, "STRATEGY", strategy, 1), engine.Options{})
		if err != nil {
			t.Fatal(err)
		}
		lines := tr.snapshot()
		for _, pair := range [][2]string{{"one", "two"}, {"two", "three"}} {
			lastEnd, firstStart := index(lines, "end "+pair[0], true), index(lines, "start "+pair[1], false)
			if lastEnd < 0 || firstStart < 0 || lastEnd > firstStart {
				t.Fatalf("%q: a host started %s before every host ended %s:\n%s", strategy, pair[1], pair[0], strings.Join(lines, "\n"))
			}
		}
	}
}

// TestFreeLetsFastHostsRunAhead: under strategy free (and host_pinned) a
// fast host finishes the play while a slow one is still on its first task.
func TestFreeLetsFastHostsRunAhead(t *testing.T) {
	for _, strategy := range []string{"strategy: free", "strategy: host_pinned"} {
		_, _, tr, err := fleetRun(t, 3, strings.Replace(threeSteps, "STRATEGY", strategy, 1), engine.Options{})
		if err != nil {
			t.Fatal(err)
		}
		lines := tr.snapshot()
		if end3, end1 := index(lines, "end three h2", false), index(lines, "end one h1", false); end3 < 0 || end3 > end1 {
			t.Fatalf("%s: h2 waited for slow h1:\n%s", strategy, strings.Join(lines, "\n"))
		}
	}
}

// TestLinearWithFewerForksThanHosts: forks bounds hosts working at once,
// not hosts in a batch, so linear with forks 2 and 5 hosts still finishes
// and never runs more than 2 at once.
func TestLinearWithFewerForksThanHosts(t *testing.T) {
	pb := "- hosts: all\n  gather_facts: false\n  tasks:\n    - etest_trace: {log: LOG, step: one, sleep_ms: 20}\n" +
		"    - etest_trace: {log: LOG, step: two, sleep_ms: 20}\n    - etest_trace: {log: LOG, step: three}\n"
	recap, _, tr, err := fleetRun(t, 5, pb, engine.Options{Forks: 2})
	if err != nil {
		t.Fatal(err)
	}
	if tr.peak != 2 || recap.Hosts["h5"].OK != 3 {
		t.Fatalf("peak hosts at once = %d (want 2), h5 = %+v", tr.peak, recap.Hosts["h5"])
	}
}

// TestHandlersFlushAfterEachSection: as in Ansible, notified handlers run
// after pre_tasks, after roles+tasks and after post_tasks, on every host
// before the next section starts.
func TestHandlersFlushAfterEachSection(t *testing.T) {
	pb := `
- hosts: all
  gather_facts: false
  pre_tasks:
    - etest_file: {path: "DIR/{{ inventory_hostname }}.pre", content: x}
      notify: h
  tasks:
    - etest_trace: {log: LOG, step: task}
    - etest_file: {path: "DIR/{{ inventory_hostname }}.task", content: x}
      notify: h
  post_tasks:
    - etest_trace: {log: LOG, step: post}
  handlers:
    - name: h
      etest_trace: {log: LOG, step: handler}
`
	_, _, tr, err := fleetRun(t, 3, pb, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	lines := tr.snapshot()
	var got []string
	for _, l := range lines {
		if strings.HasPrefix(l, "end") {
			got = append(got, strings.Fields(l)[1])
		}
	}
	want := "handler handler handler task task task handler handler handler post post post"
	if strings.Join(got, " ") != want {
		t.Fatalf("order of steps:\n%s\nwant %s", strings.Join(lines, "\n"), want)
	}
}

func TestSerialBatchesLikeAnsible(t *testing.T) {
	cases := []struct {
		serial string
		hosts  int
		want   string
	}{
		{"", 5, "5"},
		{"2", 5, "2 2 1"},
		{"0", 3, "3"},
		{"30%", 10, "3 3 3 1"},  // a share of all the play's hosts, rounded down
		{"10%", 5, "1 1 1 1 1"}, // never below one host
		{"[1, 2, 50%]", 10, "1 2 5 2"},
		{"[1, '20%']", 12, "1 2 2 2 2 2 1"},
	}
	for _, c := range cases {
		t.Run(c.serial, func(t *testing.T) {
			pb := "- hosts: all\n  gather_facts: false\n"
			if c.serial != "" {
				pb += "  serial: " + c.serial + "\n"
			}
			pb += "  tasks:\n    - etest_echo: {msg: x}\n"
			_, rec, _, err := fleetRun(t, c.hosts, pb, engine.Options{})
			if err != nil {
				t.Fatal(err)
			}
			var sizes []string
			for _, ev := range rec.events {
				if ev.Type == engine.EventBatchStart {
					sizes = append(sizes, fmt.Sprint(len(ev.Hosts)))
				}
			}
			if strings.Join(sizes, " ") != c.want {
				t.Fatalf("batches %v, want %s", sizes, c.want)
			}
		})
	}
}

// TestSerialOneRollsHostByHost: serial 1 finishes the whole play on one
// host before the next starts (draining one node at a time).
func TestSerialOneRollsHostByHost(t *testing.T) {
	pb := strings.Replace(threeSteps, "STRATEGY", "serial: 1", 1)
	_, _, tr, err := fleetRun(t, 3, pb, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	lines := tr.snapshot()
	if index(lines, "end three h1", false) > index(lines, "start one h2", false) ||
		index(lines, "end three h2", false) > index(lines, "start one h3", false) {
		t.Fatalf("hosts overlapped:\n%s", strings.Join(lines, "\n"))
	}
}

const failOnSome = `
- hosts: all
  gather_facts: false
  SETTINGS
  tasks:
    - etest_trace: {log: LOG, step: one, fail: "{{ inventory_hostname in FAILING }}"}
    - etest_trace: {log: LOG, step: two}
`

func ranStep(lines []string, step string) []string {
	var hosts []string
	for _, l := range lines {
		if f := strings.Fields(l); f[0] == "end" && f[1] == step {
			hosts = append(hosts, f[2])
		}
	}
	slices.Sort(hosts)
	return hosts
}

// TestMaxFailPercentage: the play stops when the failed share of a batch
// is greater than max_fail_percentage (not equal), after the task that
// failed, and no later batch starts.
func TestMaxFailPercentage(t *testing.T) {
	cases := []struct {
		name, settings, failing string
		stopped                 bool
		ranTwo                  string
	}{
		{"equal share goes on", "max_fail_percentage: 25", "['h1']", false, "h2 h3 h4"},
		{"greater share stops", "max_fail_percentage: 25", "['h1', 'h2']", true, ""},
		{"zero stops on one", "max_fail_percentage: 0", "['h3']", true, ""},
		{"per batch", "serial: 2\n  max_fail_percentage: 49", "['h3']", true, "h1 h2"},
		{"whole batch failing stops later batches", "serial: 2", "['h1', 'h2']", true, ""},
		{"no setting: others go on", "", "['h1', 'h2', 'h3']", false, "h4"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pb := strings.NewReplacer("SETTINGS", c.settings, "FAILING", c.failing).Replace(failOnSome)
			_, rec, tr, err := fleetRun(t, 4, pb, engine.Options{})
			if err == nil {
				t.Fatal("want the failure reported")
			}
			if errors.Is(err, engine.ErrPlayStopped) != c.stopped {
				t.Fatalf("stopped = %v, want %v: %v", errors.Is(err, engine.ErrPlayStopped), c.stopped, err)
			}
			if got := strings.Join(ranStep(tr.snapshot(), "two"), " "); got != c.ranTwo {
				t.Fatalf("step two ran on %q, want %q\n%v", got, c.ranTwo, rec.results())
			}
		})
	}
}

// TestAnyErrorsFatal: one host failing stops every host after the current
// task, at play, block or task level; rescued failures do not count.
func TestAnyErrorsFatal(t *testing.T) {
	taskLevel := `
- hosts: all
  gather_facts: false
  tasks:
    - block:
        - etest_trace: {log: LOG, step: one, sleep_ms: "{{ 100 if inventory_hostname == 'h3' else 0 }}", fail: "{{ inventory_hostname == 'h1' }}"}
      any_errors_fatal: true
    - etest_trace: {log: LOG, step: two}
`
	rescued := `
- hosts: all
  gather_facts: false
  any_errors_fatal: true
  tasks:
    - block:
        - etest_trace: {log: LOG, step: one, fail: "{{ inventory_hostname == 'h1' }}"}
      rescue:
        - etest_echo: {msg: handled}
    - etest_trace: {log: LOG, step: two}
`
	for name, c := range map[string]struct {
		pb      string
		stopped bool
		one     string
		two     string
	}{
		"play":    {strings.NewReplacer("SETTINGS", "any_errors_fatal: true", "FAILING", "['h1']").Replace(failOnSome), true, "h1 h2 h3", ""},
		"block":   {taskLevel, true, "h1 h2 h3", ""},
		"rescued": {rescued, false, "h1 h2 h3", "h1 h2 h3"},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, tr, err := fleetRun(t, 3, c.pb, engine.Options{})
			if errors.Is(err, engine.ErrPlayStopped) != c.stopped {
				t.Fatalf("stopped = %v, want %v: %v", errors.Is(err, engine.ErrPlayStopped), c.stopped, err)
			}
			lines := tr.snapshot()
			if one, two := strings.Join(ranStep(lines, "one"), " "), strings.Join(ranStep(lines, "two"), " "); one != c.one || two != c.two {
				t.Fatalf("one ran on %q (want %q), two on %q (want %q)", one, c.one, two, c.two)
			}
		})
	}
}

// TestThrottle: throttle caps hosts running a task at once, on a task and
// on every task of a block; other tasks use all forks.
func TestThrottle(t *testing.T) {
	for name, c := range map[string]struct {
		pb   string
		peak int
	}{
		"task":            {"- hosts: all\n  gather_facts: false\n  tasks:\n    - etest_trace: {log: LOG, step: t, sleep_ms: 30}\n      throttle: 2\n", 2},
		"block":           {"- hosts: all\n  gather_facts: false\n  tasks:\n    - block:\n        - etest_trace: {log: LOG, step: a, sleep_ms: 30}\n        - etest_trace: {log: LOG, step: b, sleep_ms: 30}\n      throttle: 1\n", 1},
		"none":            {"- hosts: all\n  gather_facts: false\n  tasks:\n    - etest_trace: {log: LOG, step: t, sleep_ms: 30}\n", 5},
		"templated":       {"- hosts: all\n  gather_facts: false\n  tasks:\n    - etest_trace: {log: LOG, step: t, sleep_ms: 30}\n      throttle: \"{{ dl_throttle | default(2) | int }}\"\n", 2},
		"templated block": {"- hosts: all\n  gather_facts: false\n  vars: {n: 1}\n  tasks:\n    - block:\n        - etest_trace: {log: LOG, step: a, sleep_ms: 30}\n      throttle: \"{{ n }}\"\n", 1},
		"free":            {"- hosts: all\n  strategy: free\n  gather_facts: false\n  tasks:\n    - etest_trace: {log: LOG, step: t, sleep_ms: 30}\n      throttle: 2\n", 2},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, tr, err := fleetRun(t, 5, c.pb, engine.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if tr.peak != c.peak {
				t.Fatalf("peak hosts at once = %d, want %d\n%s", tr.peak, c.peak, strings.Join(tr.snapshot(), "\n"))
			}
		})
	}
}

// TestRunOnce: the task runs on the first host of the batch only; its
// registered result and the facts it sets reach every host of the batch,
// as in Ansible; with serial it runs once per batch.
func TestRunOnce(t *testing.T) {
	pb := `
- hosts: all
  gather_facts: false
  SETTINGS
  tasks:
    - name: init
      etest_trace: {log: LOG, step: once}
      run_once: true
      register: init_out
    - name: token
      set_fact: {join_token: "from-{{ inventory_hostname }}"}
      run_once: true
    - name: join
      etest_file: {path: "DIR/{{ inventory_hostname }}", content: "{{ join_token }} {{ init_out.changed }}"}
`
	for name, c := range map[string]struct {
		settings string
		ran      string
		content  map[string]string
	}{
		"linear": {"", "h1", map[string]string{"h1": "from-h1 False", "h3": "from-h1 False"}},
		"free":   {"strategy: free", "", map[string]string{"h2": "", "h3": ""}},
		"serial": {"serial: 2", "h1 h3", map[string]string{"h2": "from-h1 False", "h4": "from-h3 False"}},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			pb := strings.NewReplacer("SETTINGS", c.settings, "DIR", dir).Replace(pb)
			_, _, tr, err := fleetRun(t, 4, pb, engine.Options{})
			if err != nil {
				t.Fatal(err)
			}
			ran := ranStep(tr.snapshot(), "once")
			if c.ran != "" && strings.Join(ran, " ") != c.ran {
				t.Fatalf("run_once ran on %v, want %s", ran, c.ran)
			}
			if c.ran == "" && len(ran) != 1 {
				t.Fatalf("run_once ran on %v, want one host", ran)
			}
			for h, want := range c.content {
				b, err := os.ReadFile(filepath.Join(dir, h))
				if err != nil {
					t.Fatal(err)
				}
				if want == "" {
					want = "from-" + ran[0] + " False"
				}
				if string(b) != want {
					t.Fatalf("%s got %q, want %q", h, b, want)
				}
			}
		})
	}
}

// TestRunOnceFailureFailsTheBatch: when the one run fails, every host of
// the batch fails (Ansible does the same): no host goes on to join a
// cluster whose init failed.
func TestRunOnceFailureFailsTheBatch(t *testing.T) {
	pb := `
- hosts: all
  gather_facts: false
  tasks:
    - name: init
      etest_trace: {log: LOG, step: init, fail: true}
      run_once: true
    - etest_trace: {log: LOG, step: join}
`
	recap, _, tr, err := fleetRun(t, 3, pb, engine.Options{})
	if err == nil || len(ranStep(tr.snapshot(), "join")) != 0 || len(ranStep(tr.snapshot(), "init")) != 1 {
		t.Fatalf("err=%v trace=%v", err, tr.snapshot())
	}
	for _, h := range []string{"h1", "h2", "h3"} {
		if recap.Hosts[h].Failed != 1 {
			t.Fatalf("%s: %+v", h, recap.Hosts[h])
		}
	}
	if !strings.Contains(err.Error(), `host h2, task "init"`) || !strings.Contains(err.Error(), "run_once task failed on h1") {
		t.Fatalf("error does not name host and task: %v", err)
	}
}

// TestResultsDoNotDependOnForks: the same play gives the same per-host
// results and counts with forks 1 and forks 8, under both strategies.
func TestResultsDoNotDependOnForks(t *testing.T) {
	pb := `
- hosts: all
  gather_facts: false
  STRATEGY
  tasks:
    - etest_file: {path: "DIR/{{ inventory_hostname }}", content: x}
      register: w
    - etest_fail: {}
      when: inventory_hostname == 'h3'
    - etest_echo: {msg: "{{ w.changed }}"}
      RUNONCE
    - etest_trace: {log: LOG, step: t, sleep_ms: "{{ 20 if inventory_hostname == 'h1' else 0 }}"}
      throttle: 2
`
	// Under free, which host runs a run_once task is the first to reach
	// it, which depends on timing (not on forks): that case runs it on all.
	for strategy, runOnce := range map[string]string{"": "run_once: true", "strategy: free": ""} {
		var want string
		for _, forks := range []int{1, 8} {
			pb := strings.NewReplacer("STRATEGY", strategy, "RUNONCE", runOnce).Replace(pb)
			recap, rec, _, _ := fleetRun(t, 6, pb, engine.Options{Forks: forks})
			res := rec.results()
			slices.Sort(res)
			var counts []string
			for _, h := range recap.Order {
				counts = append(counts, fmt.Sprintf("%s %+v", h, *recap.Hosts[h]))
			}
			got := strings.Join(res, "\n") + "\n" + strings.Join(counts, "\n")
			if want == "" {
				want = got
			} else if got != want {
				t.Fatalf("%q: forks 8 differs from forks 1:\n%s\nwant\n%s", strategy, got, want)
			}
		}
	}
}

// TestLinearOrdersRescueAndIncludes: a rescue runs in its place in the play
// (after its block, before the next task), and the tasks of a file
// included at run time run in the include's place, on every host together.
func TestLinearOrdersRescueAndIncludes(t *testing.T) {
	dir := t.TempDir()
	inc := "- etest_trace: {log: \"{{ tracelog }}\", step: inc1}\n- etest_trace: {log: \"{{ tracelog }}\", step: inc2}\n"
	if err := os.WriteFile(filepath.Join(dir, "inc.yaml"), []byte(inc), 0o644); err != nil {
		t.Fatal(err)
	}
	pb := `
- hosts: all
  gather_facts: false
  vars: {incfile: inc.yaml, tracelog: LOG}
  tasks:
    - block:
        - etest_trace: {log: LOG, step: one, fail: "{{ inventory_hostname == 'h1' }}"}
      rescue:
        - etest_trace: {log: LOG, step: fix, sleep_ms: 50}
    - include_tasks: "DIR/{{ incfile }}"
    - etest_trace: {log: LOG, step: two}
`
	_, _, tr, err := fleetRun(t, 3, strings.ReplaceAll(pb, "DIR", dir), engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	lines := tr.snapshot()
	var got []string
	for _, l := range lines {
		if f := strings.Fields(l); len(got) == 0 || got[len(got)-1] != f[1] {
			got = append(got, f[1])
		}
	}
	// every step's starts and ends form one run of lines: no host ran ahead
	if strings.Join(got, " ") != "one fix inc1 inc2 two" {
		t.Fatalf("order %v\n%s", got, strings.Join(lines, "\n"))
	}
}

// TestTemplatedRunOnce: run_once may be a template over the host's
// variables, on the task or its block, and still runs the task once.
func TestTemplatedRunOnce(t *testing.T) {
	pb := `
- hosts: all
  gather_facts: false
  vars: {only_once: true, never: false}
  tasks:
    - name: init
      etest_trace: {log: LOG, step: once}
      run_once: "{{ only_once }}"
    - block:
        - etest_trace: {log: LOG, step: inherited}
      run_once: "{{ only_once and not never }}"
    - etest_trace: {log: LOG, step: all}
      run_once: "{{ never }}"
`
	_, _, tr, err := fleetRun(t, 3, pb, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for step, want := range map[string]int{"once": 1, "inherited": 1, "all": 3} {
		if got := len(ranStep(tr.snapshot(), step)); got != want {
			t.Fatalf("%s ran on %d hosts, want %d: %v", step, got, want, tr.snapshot())
		}
	}
}

// TestFlushHandlersUnderLinear: meta flush_handlers in the middle of the
// tasks runs the handlers there, on every host, also with one fork (the
// flush must not hold a fork while the handler waits for the other hosts).
func TestFlushHandlersUnderLinear(t *testing.T) {
	pb := `
- hosts: all
  gather_facts: false
  tasks:
    - etest_file: {path: "DIR/{{ inventory_hostname }}", content: x}
      notify: h
    - meta: flush_handlers
    - etest_trace: {log: LOG, step: after}
  handlers:
    - name: h
      etest_trace: {log: LOG, step: handler}
`
	for _, forks := range []int{1, 5} {
		t.Run(fmt.Sprint("forks", forks), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			done := make(chan struct{})
			var (
				tr  *traceLog
				err error
			)
			go func() {
				defer close(done)
				_, _, tr, err = fleetRun(t, 3, pb, engine.Options{Forks: forks})
			}()
			select {
			case <-done:
			case <-ctx.Done():
				t.Fatal("run did not finish: deadlock between flush_handlers and forks")
			}
			if err != nil {
				t.Fatal(err)
			}
			lines := tr.snapshot()
			if len(ranStep(lines, "handler")) != 3 || len(ranStep(lines, "after")) != 3 {
				t.Fatalf("trace %v", lines)
			}
			if first, last := index(lines, "start after", false), index(lines, "end handler", true); first < last {
				t.Fatalf("a task after the flush ran before the handlers: %v", lines)
			}
		})
	}
}
