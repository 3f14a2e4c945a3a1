package engine_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/conn/local"
	"github.com/gpuctl/gpuctl/engine"
	"github.com/gpuctl/gpuctl/inventory"
	"github.com/gpuctl/gpuctl/playbooks"
)

// TestAsyncLikeAnsible runs testdata/async/async.yml and compares what it
// writes with what ansible-core 2.14 wrote (testdata/async/expected-ansible,
// gen-expected.sh): async with poll (a result, a failure with stderr,
// strip_empty_ends: false, a time-out, creates keeping the command from
// running), poll: 0 with async_status until finished, mode: cleanup, a job
// that is gone, and async_status skipped in check mode. The jobs run on
// this machine, with their files under a HOME of the test's own.
func TestAsyncLikeAnsible(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	out := t.TempDir()
	inv, err := inventory.Open(inventory.Options{Sources: []string{"testdata/async/inv.ini"}})
	if err != nil {
		t.Fatal(err)
	}
	pb, err := (&playbooks.Loader{}).Load("testdata/async/async.yml")
	if err != nil {
		t.Fatal(err)
	}
	opt := engine.Options{Local: local.New(), ExtraVars: map[string]any{"out_dir": out}, Reporter: &recorder{}}
	recap, err := engine.New(inv, opt).Run(context.Background(), pb)
	if err != nil {
		t.Fatal(err)
	}
	if recap.Failed() {
		t.Fatalf("recap: %+v", recap.Hosts)
	}
	compareDirs(t, "testdata/async/expected-ansible", out)
	// The polled jobs' files are gone, as ansible-core removes them; the
	// timed-out one stays with async_wrapper's "Timeout exceeded" once
	// its watchdog, which runs beside the play, has written it.
	var left []string
	var timedOut string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		left, _ = filepath.Glob(filepath.Join(home, ".ansible_async", "*"))
		if len(left) == 1 {
			b, _ := os.ReadFile(left[0])
			if timedOut = string(b); strings.Contains(timedOut, `"Timeout exceeded"`) {
				return
			}
		}
	}
	t.Errorf("left in ~/.ansible_async: %q (the last %q), want the timed-out job only", left, timedOut)
}

// TestAsyncCheckMode: under --check an async task starts no job; it is
// checked as in the foreground, and async_status of its job is known
// after apply.
func TestAsyncCheckMode(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	pb := `
- hosts: a
  gather_facts: false
  tasks:
    - name: start
      shell: touch DIR/ran
      async: 30
      poll: 0
      register: j
    - name: wait
      async_status: {jid: "{{ j.ansible_job_id }}"}
      register: s
      until: s.finished
      retries: 3
      delay: 1
    - name: skipped by creates
      command: echo x
      args: {creates: /}
      async: 30
      poll: 5
`
	recap, rec, err := run(t, pb, engine.Options{Check: true})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(rec.results(), "\n")
	want := "a start changed\na wait unknown\na skipped by creates ok"
	if got != want {
		t.Fatalf("results:\n%s\nwant:\n%s", got, want)
	}
	if recap.Failed() {
		t.Fatalf("recap: %+v", recap.Hosts)
	}
	if _, err := os.Stat(filepath.Join(home, ".ansible_async")); !os.IsNotExist(err) {
		t.Errorf("check mode started a job: %v", err)
	}
}

// invU is the one host flakyConnector reaches.
const invU = "all:\n  hosts:\n    u: {}\n"

// flakyConnector dials hosts over the local connection; a command with
// GO-DOWN in it loses the host, and the dials after it fail downDials
// times before the host is back.
type flakyConnector struct {
	downDials atomic.Int32
	dials     atomic.Int32
}

func (f *flakyConnector) Connect(ctx context.Context, h *inventory.Host, vars map[string]any) (conn.Conn, error) {
	f.dials.Add(1)
	if f.downDials.Load() > 0 {
		f.downDials.Add(-1)
		return nil, fmt.Errorf("%w: %s: connection refused", conn.ErrUnreachable, h.Name)
	}
	return flakyConn{Conn: local.New(), f: f}, nil
}

type flakyConn struct {
	conn.Conn
	f *flakyConnector
}

func (c flakyConn) Run(ctx context.Context, cmd string, opts ...conn.ExecOption) (conn.Result, error) {
	if strings.Contains(cmd, "GO-DOWN") {
		c.f.downDials.Store(1)
		return conn.Result{}, fmt.Errorf("%w: host went away", conn.ErrUnreachable)
	}
	return c.Conn.Run(ctx, cmd, opts...)
}

// TestIgnoreUnreachable: a task with ignore_unreachable that finds its host
// unreachable is recorded (ok and ignored, as ansible-core counts it, the
// registered result unreachable) and the host stays in play: a task that
// does not touch the host runs while it is still down, the next one dials
// it again, and an unreachable task without the keyword ends the host.
func TestIgnoreUnreachable(t *testing.T) {
	dir := t.TempDir()
	pb := `
- hosts: u
  gather_facts: false
  tasks:
    - name: lose it
      command: echo GO-DOWN
      ignore_unreachable: true
      register: r
    - name: no host needed
      set_fact: {seen: "{{ r.unreachable }} {{ r.failed }} {{ r.changed }}"}
    - name: back
      copy: {dest: ` + dir + `/back, content: "{{ seen }}"}
    - name: lose it again
      command: echo GO-DOWN
    - name: never runs
      command: echo never
`
	fc := &flakyConnector{}
	recap, rec, err := runIn(t, dir, invU, pb, engine.Options{Connector: fc})
	if err == nil {
		t.Fatal("run succeeded; the second unreachable task should end the host")
	}
	got := strings.Join(rec.results(), "\n")
	want := "u lose it ignored\nu no host needed ok\nu back changed\nu lose it again unreachable"
	if got != want {
		t.Fatalf("results:\n%s\nwant:\n%s", got, want)
	}
	c := recap.Hosts["u"]
	if c.OK != 1 || c.Ignored != 1 || c.Unreachable != 1 || c.Changed != 1 {
		t.Errorf("counts: %+v", c)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "back")); string(b) != "True False False" {
		t.Errorf("registered result: %q, want unreachable, not failed, not changed", b)
	}
	// the first dial, one that found the host still down (set_fact went
	// on without it), and the one that found it back
	if n := fc.dials.Load(); n != 3 {
		t.Errorf("dials: %d, want 3", n)
	}
}

// TestUnreachableAtPlayStart: a host that is down when a play starts stays
// in it as in ansible-core, which connects when a task first needs the
// host. Without facts, tasks that need no host run and the first that
// reaches it is unreachable there (ignored under ignore_unreachable, the
// next task dialling again); with facts, the play's ignore_unreachable
// covers Gathering facts. Without the keyword the host still leaves the
// play at its first task that reaches it.
func TestUnreachableAtPlayStart(t *testing.T) {
	for _, tc := range []struct {
		name, play string
		gather     string // the status of Gathering facts, when the play gathers
		down       int32
		want       string
		dials      int32
		fails      bool
	}{
		{
			name: "no facts and the task ignores",
			play: `
- hosts: u
  gather_facts: false
  tasks:
    - name: no host needed
      set_fact: {seen: yes}
    - name: touch
      command: echo hi
      ignore_unreachable: true
    - name: back
      copy: {dest: DIR/back, content: "{{ seen }}"}
`,
			down: 1, dials: 2,
			want: "u no host needed ok\nu touch ignored\nu back changed",
		},
		{
			name: "facts and the play ignores",
			play: `
- hosts: u
  ignore_unreachable: true
  tasks:
    - name: one
      command: echo hi
    - name: two
      copy: {dest: DIR/back, content: "x"}
`,
			down: 2, dials: 3,
			want: "u one ignored\nu two changed", gather: "ignored",
		},
		{
			name: "no facts and no keyword",
			play: `
- hosts: u
  gather_facts: false
  tasks:
    - name: no host needed
      debug: {msg: hi}
    - name: touch
      command: echo hi
    - name: never
      command: echo never
`,
			down: 1, dials: 1, fails: true,
			want: "u no host needed ok\nu touch unreachable",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fc := &flakyConnector{}
			fc.downDials.Store(tc.down)
			_, rec, err := runIn(t, t.TempDir(), invU, tc.play, engine.Options{Connector: fc})
			if (err != nil) != tc.fails {
				t.Fatalf("err = %v, want failure %v", err, tc.fails)
			}
			if got := strings.Join(rec.results(), "\n"); got != tc.want {
				t.Errorf("results:\n%s\nwant:\n%s", got, tc.want)
			}
			if n := fc.dials.Load(); n != tc.dials {
				t.Errorf("dials: %d, want %d", n, tc.dials)
			}
			gathered := ""
			for _, e := range rec.events {
				if e.Type == engine.EventTaskResult && e.Task == "Gathering facts" {
					gathered = string(e.Status)
				}
			}
			if gathered != tc.gather {
				t.Errorf("Gathering facts: %q, want %q", gathered, tc.gather)
			}
		})
	}
}

// TestAsyncDir: ansible_async_dir moves the jobs' files, for the engine's
// own polling and for async_status, as it does in ansible-core; a ~/ path
// is the task user's home.
func TestAsyncDir(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	pb := `
- hosts: a
  gather_facts: false
  vars:
    ansible_async_dir: "~/my jobs"
  tasks:
    - name: polled
      command: echo polled
      async: 30
      poll: 1
    - name: start
      shell: echo started
      async: 30
      poll: 0
      register: j
    - name: wait
      async_status: {jid: "{{ j.ansible_job_id }}"}
      register: s
      until: s.finished
      retries: 20
      delay: 1
    - name: said
      assert: {that: ["s.stdout == 'started'", "'/my jobs/' in s.results_file"]}
`
	recap, rec, err := run(t, pb, engine.Options{})
	if err != nil || recap.Failed() {
		t.Fatalf("err=%v\n%s", err, strings.Join(rec.results(), "\n"))
	}
	if _, err := os.Stat(filepath.Join(home, ".ansible_async")); !os.IsNotExist(err) {
		t.Errorf("the default async_dir was used: %v", err)
	}
	all, _ := filepath.Glob(filepath.Join(home, "my jobs", "j*"))
	var files []string
	for _, f := range all {
		if fi, err := os.Stat(f); err == nil && fi.Mode().IsRegular() {
			files = append(files, f)
		}
	}
	if len(files) != 1 {
		t.Errorf("in ~/my jobs: %q, want the poll: 0 job's file (the polled one is removed)", files)
	}
}
