// Package engine runs plays: hosts in parallel up to a fork limit, each
// host's tasks in order, check → apply → verify for every task, handlers at
// the end of the play, and a recap. It never prints; it emits events.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-multierror"
	"golang.org/x/sync/semaphore"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/inventory"
	"github.com/gpuctl/gpuctl/plan"
	"github.com/gpuctl/gpuctl/playbooks"
	"github.com/gpuctl/gpuctl/template"
	"github.com/gpuctl/gpuctl/vault"
)

// Connector opens the transport to a host from its inventory variables.
type Connector interface {
	Connect(ctx context.Context, h *inventory.Host, vars map[string]any) (conn.Conn, error)
}

// BecomeFunc wraps a connection so commands and file writes run as user.
type BecomeFunc func(c conn.Conn, user, password string) conn.Conn

// Options control a run.
type Options struct {
	Check     bool
	Diff      bool
	Forks     int
	Limit     string
	Tags      []string
	SkipTags  []string
	ExtraVars map[string]any
	// BecomePassword applies to hosts whose inventory sets none.
	BecomePassword string
	// Prompt asks the user for a vars_prompt variable (private: without
	// echo); nil when the run is not interactive, and defaults are used.
	Prompt func(msg string, private bool) (string, error)
	// Secrets are masked in all output (values decrypted from a vault).
	Secrets []string
	// Vault opens vault-encrypted files include_vars loads.
	Vault     []vault.Secret
	Connector Connector
	Local     conn.Conn
	Become    BecomeFunc
	Reporter  Reporter
	Logger    *slog.Logger
	// SlowAfter is when a running task is reported as still running.
	SlowAfter time.Duration
	// TaskTimeout bounds one task on one host (0: none).
	TaskTimeout time.Duration

	// The command line's connection settings (ansible-playbook -c, -u, -b,
	// --become-user). As in Ansible they are the lowest layer: a host's
	// variables (ansible_connection, ansible_user, ansible_become,
	// ansible_become_user) and the play and task keywords (connection,
	// remote_user, become, become_user) override them; -e is above all.
	// DefaultConnection is "local" or "" (ssh).
	DefaultConnection string
	DefaultRemoteUser string
	DefaultBecome     bool
	DefaultBecomeUser string
}

// Engine runs playbooks. One Engine serves one run.
type Engine struct {
	opt   Options
	tpl   *template.Engine
	inv   *inventory.Inventory
	hosts map[string]*hostRun
	mu    sync.Mutex
	// forks bounds the tasks running at once, over all hosts
	forks *semaphore.Weighted
	// secrets are masked in every event and error
	secrets plan.Secrets
	// play is the running play's shared state (magic.go, meta.go)
	play     *playState
	omit     string
	omitOnce sync.Once
	// groupsVar is the `groups` variable of the inventory generation
	// groupsGen, shared by every task-host until the groups change
	groupsMu  sync.Mutex
	groupsVar map[string]any
	groupsGen uint64
}

// New prepares a run.
func New(inv *inventory.Inventory, opt Options) *Engine {
	if opt.Forks <= 0 {
		opt.Forks = 10
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Reporter == nil {
		opt.Reporter = ReporterFunc(func(Event) {})
	}
	if opt.SlowAfter == 0 {
		opt.SlowAfter = 15 * time.Second
	}
	e := &Engine{opt: opt, tpl: template.New(), inv: inv, hosts: map[string]*hostRun{}, forks: semaphore.NewWeighted(int64(opt.Forks))}
	if opt.BecomePassword != "" {
		e.secrets.Add(opt.BecomePassword)
	}
	for _, s := range opt.Secrets {
		e.secrets.Add(s)
	}
	e.tpl.SetHostPatterns(inv) // the inventory_hostnames lookup
	for _, h := range inv.Hosts() {
		for _, k := range passwordVars {
			if s, ok := h.Vars[k].(string); ok && s != "" {
				e.secrets.Add(s)
			}
		}
	}
	return e
}

// passwordVars are the host variables whose values are masked in output.
var passwordVars = []string{"ansible_become_password", "ansible_become_pass", "ansible_password", "ansible_ssh_pass", "gpuctl_become_password"}

// HostError is one host's failure, naming the task and where it is written.
type HostError struct {
	Host string
	Task string
	Pos  string
	Err  error
}

func (e *HostError) Error() string {
	if e.Task == "" {
		return fmt.Sprintf("host %s: %v", e.Host, e.Err)
	}
	return fmt.Sprintf("host %s, task %q (%s): %v", e.Host, e.Task, e.Pos, e.Err)
}

func (e *HostError) Unwrap() error { return e.Err }

// ErrModuleBug is wrapped when a module still reports changes right after
// applying them: its Check and Apply disagree.
var ErrModuleBug = errors.New("module reports changes after apply (its check and apply disagree)")

// Run executes every play. The error aggregates every host's failure
// (errors.Is/As work through it); the recap is returned either way.
func (e *Engine) Run(ctx context.Context, pb *playbooks.Playbook) (*Recap, error) {
	for _, f := range pb.PythonFilters {
		if err := e.tpl.AddPythonFilter(f); err != nil { // before any host renders
			return nil, err
		}
	}
	start := time.Now()
	recap := &Recap{Hosts: map[string]*Counts{}, Check: e.opt.Check}
	var errs *multierror.Error
	defer e.closeAll()
	for _, play := range pb.Plays {
		if ctx.Err() != nil {
			errs = multierror.Append(errs, ctx.Err())
			break
		}
		hosts, err := e.playHosts(play)
		if errors.Is(err, inventory.ErrNoMatch) || (err == nil && len(hosts) == 0) {
			// As Ansible does: a play whose pattern matches nothing (a
			// single-node inventory has no workers group) is skipped.
			msg := fmt.Sprintf("play %q (%s): no hosts matched %q; skipping", play.Name, play.Pos, play.Hosts)
			if err != nil { // Ansible's warning, naming what matched nothing
				msg = fmt.Sprintf("play %q (%s): %v; skipping", play.Name, play.Pos, err)
			}
			e.opt.Reporter.Event(Event{Type: EventWarning, Time: time.Now(), Play: play.Name, Msg: msg})
			continue
		}
		if err != nil {
			errs = multierror.Append(errs, fmt.Errorf("play %q (%s): %w", play.Name, play.Pos, err))
			continue
		}
		for _, h := range hosts {
			if _, ok := recap.Hosts[h.Name]; !ok {
				recap.Hosts[h.Name] = &Counts{}
				recap.Order = append(recap.Order, h.Name)
			}
		}
		if err := e.varsPrompt(play); err != nil { // varsprompt.go
			errs = multierror.Append(errs, fmt.Errorf("play %q (%s): %w", play.Name, play.Pos, err))
			break
		}
		e.startPlay(hosts) // magic.go
		e.opt.Reporter.Event(Event{Type: EventPlayStart, Time: time.Now(), Play: play.Name, Pos: play.Pos.String(), Hosts: names(hosts), Check: e.opt.Check})
		if err := e.runBatches(ctx, play, hosts, recap); err != nil {
			errs = multierror.Append(errs, err)
			if errors.Is(err, ErrPlayStopped) {
				break
			}
		}
	}
	if errs != nil {
		errs.ErrorFormat = listErrors
	}
	recap.Duration = time.Since(start)
	e.opt.Reporter.Event(Event{Type: EventRecap, Time: time.Now(), Recap: recap, Check: e.opt.Check})
	return recap, errs.ErrorOrNil()
}

func (e *Engine) playHosts(play *playbooks.Play) ([]*inventory.Host, error) {
	if namesLocalhost(play.Hosts) {
		e.inv.AddLocalhost()
	}
	hosts, err := e.inv.Match(play.Hosts)
	if err != nil {
		return nil, err
	}
	if e.opt.Limit != "" {
		limited, err := e.inv.Match(e.opt.Limit)
		if err != nil && !errors.Is(err, inventory.ErrNoMatch) {
			return nil, err
		}
		keep := map[string]bool{}
		for _, h := range limited {
			keep[h.Name] = true
		}
		var out []*inventory.Host
		for _, h := range hosts {
			if keep[h.Name] {
				out = append(out, h)
			}
		}
		hosts = out
	}
	return hosts, nil
}

func listErrors(es []error) string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = "  * " + e.Error()
	}
	return fmt.Sprintf("%d error(s):\n%s", len(es), strings.Join(lines, "\n"))
}

func names(hosts []*inventory.Host) []string {
	out := make([]string, len(hosts))
	for i, h := range hosts {
		out[i] = h.Name
	}
	return out
}

func (e *Engine) closeAll() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, h := range e.hosts {
		if h.base != nil {
			h.base.Close()
		}
	}
}

// hostvars is the `hostvars` variable: every host's variables as known now.
func (e *Engine) hostvars() map[string]any {
	e.mu.Lock()
	runs := maps.Clone(e.hosts)
	e.mu.Unlock()
	out := map[string]any{}
	for _, h := range e.inv.Hosts() {
		if r, ok := runs[h.Name]; ok {
			out[h.Name] = r.snapshotVars(h)
		} else {
			out[h.Name] = maps.Clone(h.Vars)
		}
	}
	return out
}

func (e *Engine) redact(s string) string { return e.secrets.Redact(s) }

func (e *Engine) addSecret(s string) { e.secrets.Add(s) }

// hostRuns returns the state of every host seen so far.
func (e *Engine) hostRuns() []*hostRun {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]*hostRun, 0, len(e.hosts))
	for _, r := range e.hosts {
		out = append(out, r)
	}
	return out
}

// Facts returns the facts gathered so far, by host.
func (e *Engine) Facts() map[string]map[string]any {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[string]map[string]any{}
	for name, r := range e.hosts {
		if r.facts != nil {
			out[name] = r.facts
		}
	}
	return out
}

// namesLocalhost reports whether a pattern names the controller itself as
// one of its terms, as Ansible's implicit localhost requires; a group or
// host whose name merely contains the word does not count.
func namesLocalhost(pattern string) bool {
	for _, term := range strings.FieldsFunc(pattern, func(r rune) bool { return r == ':' || r == ',' }) {
		switch strings.TrimLeft(strings.TrimSpace(term), "!&") {
		case "localhost":
			return true
		}
	}
	return false
}
