package engine

import (
	"context"
	"log/slog"
	"maps"
	"strings"
	"sync"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/facts"
	"github.com/gpuctl/gpuctl/inventory"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/playbooks"
	"github.com/gpuctl/gpuctl/template"
)

// hostRun is one host's state for the whole run: its connection, facts and
// the variables tasks registered. Only the host's own goroutine touches it,
// except hostvars snapshots taken under mu.
type hostRun struct {
	inv   *inventory.Host
	base  conn.Conn // transport without become
	local conn.Conn
	facts modules.Facts
	// cache holds the typed facts; modules read them with facts.Get
	cache *facts.Cache
	// vars set at run time: registered results and set_fact
	runtime map[string]any
	// the play's per-host vars_files, as read (varsfiles.go)
	playFiles *playFiles
	// defaults and vars of public include_roles this host ran in the play
	// (roles.go)
	public *publicRoles
	// check mode bookkeeping: names of registered results and paths that are
	// only known after apply
	pendingVars map[string]bool
	// flushAt is the path of the meta flush_handlers task whose handlers
	// run now (step.go keys them under it)
	flushAt      []int
	pendingPaths map[string]bool
	unreachable  bool
	// redial: a task found the host unreachable and ignore_unreachable kept
	// it in play; the next task dials it again (unreachable.go)
	redial bool
	failed bool
	counts *Counts
	mu     sync.Mutex
	// fleet state of the current play (step.go): its batch, the section of
	// the play the host is in, any_errors_fatal of its current task, and
	// the facts a run_once task it leads sets
	// handlers of roles included at run time by a templated name, which
	// only this host loaded (include.go)
	handlers    []*playbooks.Task
	handlerSeen map[string]bool
	batch       *batch
	section     int
	fatal       bool
	captured    map[string]any
	reconnect   func(ctx context.Context) (conn.Conn, error)
	// what explainLost (lost.go) needs: the boot id at connect time, the
	// rendered connection vars, and whether it has probed already
	bootID   string
	dialVars map[string]any
	probed   bool
}

// taskHost is the modules.Host a module sees for one task invocation.
type taskHost struct {
	run *hostRun
	// delegate is the host a delegated task's connection reaches (its
	// rendered delegate_to), "" when not delegated
	delegate string
	conn     conn.Conn
	vars     map[string]any
	tpl      *template.Engine
	check    bool
	log      *slog.Logger
	// pending is Engine.pendingRef for this host under --check, nil
	// otherwise: what a template file a module renders depends on.
	pending func(refs []string) string
}

var (
	_ modules.Host        = (*taskHost)(nil)
	_ modules.PendingRefs = (*taskHost)(nil)
)

// PendingRefs reports a result only known after apply that the template
// source reads (modules.PendingRefs), as decide does for a task's own
// arguments; "" outside check mode.
func (h *taskHost) PendingRefs(src string) string {
	if h.pending == nil {
		return ""
	}
	refs, err := h.tpl.Refs(src)
	if err != nil {
		return "" // a syntax error is the render's to report
	}
	return h.pending(refs)
}

func (h *taskHost) Name() string                  { return h.run.inv.Name }
func (h *taskHost) Conn() conn.Conn               { return h.conn }
func (h *taskHost) Local() conn.Conn              { return h.run.local }
func (h *taskHost) Facts() modules.Facts          { return h.run.facts }
func (h *taskHost) FactCache() *facts.Cache       { return h.run.cache }
func (h *taskHost) Vars() map[string]any          { return h.vars }
func (h *taskHost) CheckMode() bool               { return h.check }
func (h *taskHost) DelegatedTo() string           { return h.delegate }
func (h *taskHost) Log() *slog.Logger             { return h.log }
func (h *taskHost) Eval(expr string) (any, error) { return h.tpl.Eval(expr, h.vars) }
func (h *taskHost) Render(tpl string) (string, error) {
	vars := h.vars
	if _, set := vars["ansible_managed"]; !set {
		// ansible-core's template action defines it (DEFAULT_MANAGED_STR);
		// roles write it at the top of every file.
		vars = maps.Clone(vars)
		vars["ansible_managed"] = "Ansible managed"
	}
	return h.tpl.RenderFile(tpl, vars)
}

// Reconnect drops the connection and dials again (after a reboot). The
// module keeps calling Conn(), which then returns the new connection.
func (h *taskHost) Reconnect(ctx context.Context) error {
	if h.run.reconnect == nil {
		return conn.ErrNotSupported
	}
	c, err := h.run.reconnect(ctx)
	if err != nil {
		return err
	}
	old := h.run.base
	h.run.base = c
	if old != nil {
		old.Close()
	}
	// the task's connection may be a become wrapper around the old one
	h.conn = c
	return nil
}

// snapshotVars is the host's variables for hostvars, over its inventory
// entry as it is now (inv).
func (r *hostRun) snapshotVars(inv *inventory.Host) map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := maps.Clone(inv.Vars)
	for k, v := range r.facts {
		out[k] = v
	}
	for k, v := range r.runtime {
		out[k] = v
	}
	return out
}

func (r *hostRun) setVar(k string, v any) {
	if af, ok := v.(map[string]any); ok && k == "ansible_facts" {
		r.addFacts(af)
		return
	}
	r.mu.Lock()
	r.runtime[k] = v
	r.mu.Unlock()
}

// addFacts joins facts a module returns as ansible_facts (service_facts'
// services) to the host's facts, as Ansible does: each is a key of the
// ansible_facts dict, without an ansible_ prefix, and a variable of its own.
// The map is replaced, not changed, as setup does: task variables of
// running tasks hold the old one.
func (r *hostRun) addFacts(af map[string]any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	facts := maps.Clone(r.facts)
	if facts == nil {
		facts = modules.Facts{}
	}
	own, _ := facts["ansible_facts"].(map[string]any)
	own = maps.Clone(own)
	if own == nil {
		own = map[string]any{}
	}
	for k, v := range af {
		facts[k], own[strings.TrimPrefix(k, "ansible_")] = v, v
	}
	facts["ansible_facts"] = own
	r.facts = facts
}

// Pending state is read by other hosts' goroutines (through hostvars), so
// it is guarded by mu.

func (r *hostRun) markPendingVar(name string) {
	r.mu.Lock()
	r.pendingVars[name] = true
	r.mu.Unlock()
}

func (r *hostRun) isPendingVar(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pendingVars[name]
}

func (r *hostRun) markPendingPath(p string) {
	r.mu.Lock()
	r.pendingPaths[p] = true
	r.mu.Unlock()
}

func (r *hostRun) isPendingPath(p string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pendingPaths[p]
}

// pendingVar returns name when it is pending, or for "*" (a dynamic
// subscript) the first pending name in order; "" when none is.
func (r *hostRun) pendingVar(name string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if name != "*" {
		if r.pendingVars[name] {
			return name
		}
		return ""
	}
	first := ""
	for n := range r.pendingVars {
		if first == "" || n < first {
			first = n
		}
	}
	return first
}

// addHandlers adds the handlers of a role this host loaded at run time,
// once each; it returns those it had not seen.
func (r *hostRun) addHandlers(hs []*playbooks.Task) []*playbooks.Task {
	var added []*playbooks.Task
	for _, h := range hs {
		id := h.Pos.String()
		if r.handlerSeen[id] {
			continue
		}
		if r.handlerSeen == nil {
			r.handlerSeen = map[string]bool{}
		}
		r.handlerSeen[id] = true
		r.handlers = append(r.handlers, h)
		added = append(added, h)
	}
	return added
}
