package engine_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/conn/local"
	"github.com/gpuctl/gpuctl/engine"
	"github.com/gpuctl/gpuctl/inventory"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
	"github.com/gpuctl/gpuctl/playbooks"
)

// etest_file is a minimal file module for exercising the engine without the
// real module packages (they have their own tests).
type fileMod struct {
	Path    string `yaml:"path" required:"true"`
	Content string `yaml:"content"`
}

func (m *fileMod) Validate() error {
	if !filepath.IsAbs(m.Path) {
		return fmt.Errorf("path must be absolute")
	}
	return nil
}
func (m *fileMod) Reads() []string { return []string{m.Path} }
func (m *fileMod) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	var d plan.Diff
	cur, err := h.Conn().ReadFile(ctx, m.Path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return d, err
	}
	if string(cur) != m.Content || err != nil {
		d.Add(plan.Change{Resource: "file:" + m.Path, Action: plan.Update, Field: "content", Before: string(cur), After: m.Content, Content: true})
	}
	return d, nil
}
func (m *fileMod) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	return h.Conn().WriteFile(ctx, m.Path, []byte(m.Content), conn.FileAttrs{Mode: 0o644})
}

// buggyMod never converges: the engine must catch it.
type buggyMod struct{}

func (*buggyMod) Validate() error { return nil }
func (*buggyMod) Check(context.Context, modules.Host) (plan.Diff, error) {
	return plan.Diff{Changes: []plan.Change{{Resource: "x", Action: plan.Update}}}, nil
}
func (*buggyMod) Apply(context.Context, modules.Host, plan.Diff) error { return nil }

type echoMod struct {
	Msg string `yaml:"msg"`
}

func (m *echoMod) Validate() error                                        { return nil }
func (m *echoMod) Check(context.Context, modules.Host) (plan.Diff, error) { return plan.Diff{}, nil }
func (m *echoMod) Apply(context.Context, modules.Host, plan.Diff) error   { return nil }
func (m *echoMod) Message() string                                        { return m.Msg }
func (m *echoMod) Result() map[string]any                                 { return map[string]any{"stdout": m.Msg} }

type failMod struct{}

func (*failMod) Validate() error { return nil }
func (*failMod) Check(context.Context, modules.Host) (plan.Diff, error) {
	return plan.Diff{}, errors.New("boom")
}
func (*failMod) Apply(context.Context, modules.Host, plan.Diff) error { return nil }

func init() {
	modules.Register(modules.Info{Name: "etest_file", Summary: "test", New: func() modules.Module { return &fileMod{} }})
	modules.Register(modules.Info{Name: "etest_buggy", Summary: "test", New: func() modules.Module { return &buggyMod{} }})
	modules.Register(modules.Info{Name: "etest_echo", Summary: "test", New: func() modules.Module { return &echoMod{} }})
	modules.Register(modules.Info{Name: "etest_fail", Summary: "test", New: func() modules.Module { return &failMod{} }})
}

type recorder struct {
	mu     sync.Mutex
	events []engine.Event
}

func (r *recorder) Event(e engine.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) results() []string {
	var out []string
	for _, e := range r.events {
		if e.Type == engine.EventTaskResult && e.Task != "Gathering facts" {
			out = append(out, fmt.Sprintf("%s %s %s", e.Host, e.Task, e.Status))
		}
	}
	return out
}

const invLocal = `
all:
  hosts:
    a: {ansible_connection: local}
    b: {ansible_connection: local}
`

func run(t *testing.T, pbYAML string, opt engine.Options) (*engine.Recap, *recorder, error) {
	t.Helper()
	return runIn(t, t.TempDir(), invLocal, pbYAML, opt)
}

// runIn writes pbYAML as dir/pb.yaml, DIR standing for dir (roles and files
// a test put there are found beside it), and runs it on invYAML's hosts.
func runIn(t *testing.T, dir, invYAML, pbYAML string, opt engine.Options) (*engine.Recap, *recorder, error) {
	t.Helper()
	pbPath := filepath.Join(dir, "pb.yaml")
	if err := os.WriteFile(pbPath, []byte(strings.ReplaceAll(pbYAML, "DIR", dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Parse("inv.yaml", []byte(invYAML))
	if err != nil {
		t.Fatal(err)
	}
	pb, err := (&playbooks.Loader{}).Load(pbPath)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	opt.Reporter = rec
	opt.Local = local.New()
	recap, err := engine.New(inv, opt).Run(context.Background(), pb)
	return recap, rec, err
}

func TestCheckApplyIdempotence(t *testing.T) {
	dir := t.TempDir()
	pb := `
- hosts: all
  gather_facts: false
  tasks:
    - name: write
      etest_file: {path: "` + dir + `/{{ inventory_hostname }}.txt", content: "hello {{ inventory_hostname }}\n"}
`
	recap, rec, err := run(t, pb, engine.Options{Check: true})
	if err != nil {
		t.Fatal(err)
	}
	if !recap.Changed() || recap.Hosts["a"].Changed != 1 {
		t.Fatalf("check: want a change, got %+v", recap.Hosts["a"])
	}
	if _, err := os.Stat(dir + "/a.txt"); !os.IsNotExist(err) {
		t.Fatal("check mode wrote a file")
	}
	_ = rec
	recap, _, err = run(t, pb, engine.Options{})
	if err != nil || recap.Hosts["b"].Changed != 1 {
		t.Fatalf("apply: err=%v counts=%+v", err, recap.Hosts["b"])
	}
	if b, _ := os.ReadFile(dir + "/b.txt"); string(b) != "hello b\n" {
		t.Fatalf("content = %q", b)
	}
	for _, check := range []bool{false, true} {
		recap, _, err = run(t, pb, engine.Options{Check: check})
		if err != nil || recap.Changed() {
			t.Fatalf("re-run (check=%v) changed: %v %+v", check, err, recap.Hosts["a"])
		}
	}
}

func TestModuleBugDetected(t *testing.T) {
	_, _, err := run(t, "- hosts: a\n  gather_facts: false\n  tasks:\n    - etest_buggy: {}\n", engine.Options{})
	if !errors.Is(err, engine.ErrModuleBug) {
		t.Fatalf("err = %v, want ErrModuleBug", err)
	}
	var he *engine.HostError
	if !errors.As(err, &he) || he.Host != "a" || !strings.Contains(he.Pos, "pb.yaml:4") {
		t.Fatalf("HostError = %+v", he)
	}
}

func TestKnownAfterApply(t *testing.T) {
	dir := t.TempDir()
	pb := `
- hosts: a
  gather_facts: false
  tasks:
    - name: write config
      etest_file: {path: "` + dir + `/c", content: "x"}
      register: w
    - name: uses result
      etest_echo: {msg: "{{ w.changed }}"}
    - name: reads same file
      etest_file: {path: "` + dir + `/c", content: "y"}
    - name: independent
      etest_echo: {msg: "fine"}
`
	recap, rec, err := run(t, pb, engine.Options{Check: true})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(rec.results(), "\n")
	want := "a write config changed\na uses result unknown\na reads same file unknown\na independent ok"
	if got != want {
		t.Fatalf("results:\n%s\nwant:\n%s", got, want)
	}
	if recap.Hosts["a"].Unknown != 2 {
		t.Fatalf("unknown = %d", recap.Hosts["a"].Unknown)
	}
}

func TestFailureStopsOnlyThatHostAndHandlersRun(t *testing.T) {
	dir := t.TempDir()
	pb := `
- hosts: all
  gather_facts: false
  tasks:
    - name: change
      etest_file: {path: "` + dir + `/{{ inventory_hostname }}", content: "1"}
      notify: done
    - name: fail on a
      etest_fail: {}
      when: inventory_hostname == 'a'
    - name: after
      etest_echo: {msg: hi}
  handlers:
    - name: done
      etest_file: {path: "` + dir + `/{{ inventory_hostname }}.handler", content: "h"}
`
	recap, rec, err := run(t, pb, engine.Options{})
	if err == nil {
		t.Fatal("want error")
	}
	if recap.Hosts["a"].Failed != 1 || recap.Hosts["b"].Failed != 0 {
		t.Fatalf("counts a=%+v b=%+v", recap.Hosts["a"], recap.Hosts["b"])
	}
	if _, err := os.Stat(dir + "/b.handler"); err != nil {
		t.Fatalf("handler did not run on b: %v\n%v", err, rec.results())
	}
	if _, err := os.Stat(dir + "/a.handler"); err == nil {
		t.Fatal("handler ran on failed host a")
	}
}

func TestLoopRegisterWhenIgnore(t *testing.T) {
	dir := t.TempDir()
	pb := `
- hosts: a
  gather_facts: false
  vars:
    names: [x, y, z]
  tasks:
    - etest_file: {path: "` + dir + `/{{ item }}", content: "{{ item }}"}
      loop: "{{ names }}"
      when: item != 'y'
      register: out
    - etest_fail: {}
      ignore_errors: true
      register: f
    - name: check
      etest_echo: {msg: "{{ out.results | length }} {{ f.failed }} {{ out.changed }}"}
      register: e
    - etest_fail: {}
      failed_when: false
    - name: final
      etest_echo: {msg: "{{ e.stdout }}"}
`
	_, rec, err := run(t, pb, engine.Options{Diff: true})
	if err != nil {
		t.Fatalf("%v\n%v", err, rec.results())
	}
	var msg string
	for _, e := range rec.events {
		if e.Type == engine.EventTaskResult && e.Task == "final" {
			msg = e.Msg
		}
	}
	if msg != "3 True True" && msg != "3 true true" {
		t.Fatalf("final msg = %q", msg)
	}
	if _, err := os.Stat(dir + "/y"); err == nil {
		t.Fatal("when false item was written")
	}
}

func TestUnreachableHost(t *testing.T) {
	inv, _ := inventory.Parse("inv.yaml", []byte("all:\n  hosts:\n    gone: {}\n    here: {ansible_connection: local}\n"))
	pb := &playbooks.Playbook{Plays: []*playbooks.Play{{Name: "p", Hosts: "all", Tasks: []*playbooks.Task{{Module: "etest_echo", Args: map[string]any{"msg": "x"}}}}}}
	rec := &recorder{}
	recap, err := engine.New(inv, engine.Options{Local: local.New(), Reporter: rec, Connector: badConnector{}}).Run(context.Background(), pb)
	if !errors.Is(err, conn.ErrUnreachable) {
		t.Fatalf("err = %v", err)
	}
	if recap.Hosts["gone"].Unreachable != 1 || recap.Hosts["here"].OK < 1 {
		t.Fatalf("recap gone=%+v here=%+v", recap.Hosts["gone"], recap.Hosts["here"])
	}
}

type badConnector struct{}

func (badConnector) Connect(ctx context.Context, h *inventory.Host, vars map[string]any) (conn.Conn, error) {
	return nil, fmt.Errorf("dial %s: %w", h.Name, conn.ErrUnreachable)
}

func TestNoLogHidesOutput(t *testing.T) {
	pb := `
- hosts: a
  gather_facts: false
  tasks:
    - etest_echo: {msg: "token=abcdef.0123456789abcdef"}
      no_log: true
    - etest_fail: {}
      no_log: true
`
	_, rec, err := run(t, pb, engine.Options{Diff: true})
	if err == nil || strings.Contains(err.Error(), "boom") {
		t.Fatalf("err = %v, want a hidden failure", err)
	}
	for _, e := range rec.events {
		if strings.Contains(e.Msg, "abcdef") || strings.Contains(e.Msg, "boom") {
			t.Fatalf("no_log output leaked: %+v", e)
		}
	}
}

func TestNoHostsMatchedSkipsPlay(t *testing.T) {
	pb := "- hosts: workers\n  tasks:\n    - etest_echo: {msg: x}\n- hosts: a\n  gather_facts: false\n  tasks:\n    - etest_echo: {msg: y}\n"
	recap, rec, err := run(t, pb, engine.Options{})
	if err != nil || recap.Hosts["a"].OK != 1 {
		t.Fatalf("err=%v recap=%+v", err, recap.Hosts)
	}
	var warned bool
	for _, e := range rec.events {
		warned = warned || (e.Type == engine.EventWarning && strings.Contains(e.Msg, "no hosts matched"))
	}
	if !warned {
		t.Fatal("no warning for the skipped play")
	}
}

func TestKnownAfterApplyAcrossHosts(t *testing.T) {
	dir := t.TempDir()
	pb := `
- hosts: a
  gather_facts: false
  tasks:
    - etest_file: {path: "` + dir + `/token", content: "x"}
      register: join
- hosts: b
  gather_facts: false
  tasks:
    - name: uses a's result
      etest_echo: {msg: "{{ hostvars['a'].join.changed }}"}
`
	_, rec, err := run(t, pb, engine.Options{Check: true})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(rec.results(), "\n")
	if !strings.Contains(got, "b uses a's result unknown") {
		t.Fatalf("results:\n%s", got)
	}
}

// A task whose own condition is false is skipped even when its arguments
// would depend on a pending result.
func TestSkippedBeforeUnknown(t *testing.T) {
	dir := t.TempDir()
	pb := `
- hosts: a
  gather_facts: false
  tasks:
    - etest_file: {path: "` + dir + `/t", content: "x"}
      register: w
    - name: not needed here
      etest_echo: {msg: "{{ w.changed }}"}
      when: inventory_hostname == 'b'
`
	_, rec, err := run(t, pb, engine.Options{Check: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(rec.results(), "\n"); !strings.Contains(got, "a not needed here skipped") {
		t.Fatalf("results:\n%s", got)
	}
}

// A loop over an undefined variable is an error only for a task that runs:
// ansible-core (TaskExecutor.run) decides when first and skips the task
// when it is false (conjur_host_identity's conjur_ssl_certificate loop).
func TestUndefinedLoopSkippedByWhen(t *testing.T) {
	pb := `
- hosts: a
  gather_facts: false
  tasks:
    - name: skipped
      etest_echo: {msg: "{{ item }}"}
      loop: "{{ not_defined }}"
      when: not_defined is defined
      register: s
    - name: after
      etest_echo: {msg: "{{ s.skipped }}"}
    - name: include skipped
      include_tasks: "{{ inventory_hostname }}-none.yml"
      loop: "{{ not_defined }}"
      when: false
    - name: runs
      etest_echo: {msg: "{{ item }}"}
      loop: "{{ not_defined }}"
      when: true
`
	_, rec, err := run(t, pb, engine.Options{})
	got := strings.Join(rec.results(), "\n")
	if !strings.Contains(got, "a skipped skipped") || !strings.Contains(got, "a after ok") ||
		!strings.Contains(got, "a include skipped skipped") {
		t.Fatalf("results:\n%s", got)
	}
	if err == nil || !strings.Contains(got, "a runs failed") {
		t.Fatalf("a running task with an undefined loop must fail; err=%v results:\n%s", err, got)
	}
}
