package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/facts"
	"github.com/gpuctl/gpuctl/inventory"
	"github.com/gpuctl/gpuctl/playbooks"
)

// hostRunFor returns the host's run state, connecting on first use. A host
// that was unreachable once stays so for the rest of the run.
func (e *Engine) hostRunFor(ctx context.Context, play *playbooks.Play, h *inventory.Host) (*hostRun, error) {
	e.mu.Lock()
	r, ok := e.hosts[h.Name]
	if !ok {
		r = &hostRun{inv: h, local: e.opt.Local, cache: facts.NewCache(), runtime: map[string]any{}, pendingVars: map[string]bool{}, pendingPaths: map[string]bool{}}
		e.hosts[h.Name] = r
	}
	e.mu.Unlock()
	if r.unreachable {
		return r, fmt.Errorf("%w (earlier in this run)", conn.ErrUnreachable)
	}
	if r.base != nil {
		if r.dialVars != nil {
			if want, have := sshUser(e.connVars(play, h)), sshUser(r.dialVars); want != have {
				return r, fmt.Errorf("play %q wants to log in as %q (remote_user or ansible_user), but the host is connected as %q since an earlier play; gpuctl keeps one connection per host and run: set ansible_user for the host instead", play.Name, want, have)
			}
		}
		return r, nil
	}
	vars := e.connVars(play, h)
	dial := func(ctx context.Context) (conn.Conn, error) {
		if play.Connection == "local" || vars["ansible_connection"] == "local" {
			if e.opt.Local == nil {
				return nil, errors.New("local connection unavailable")
			}
			return e.opt.Local, nil
		}
		if e.opt.Connector == nil {
			return nil, errors.New("no connector configured")
		}
		return e.opt.Connector.Connect(ctx, h, vars)
	}
	c, err := dial(ctx)
	if err != nil {
		r.unreachable = true
		r.reconnect = dial // startHost may keep the host in play (lazyDown)
		return r, err
	}
	r.base = c
	r.reconnect = dial
	if c != e.opt.Local {
		r.dialVars = vars
		r.recordBoot(ctx, c)
	}
	return r, nil
}

// connVars renders the connection variables of a host (ansible_host may be
// a template over other vars).
func (e *Engine) connVars(play *playbooks.Play, h *inventory.Host) map[string]any {
	vars := maps.Clone(h.Vars)
	maps.Copy(vars, play.Vars) // play vars outrank the inventory's (ansible_user in a play's vars wins)
	maps.Copy(vars, e.opt.ExtraVars)
	vars["inventory_hostname"] = h.Name
	if u := firstNonEmpty(play.RemoteUser, e.opt.DefaultRemoteUser); u != "" && sshUser(vars) == "" {
		vars["ansible_user"] = u // below the inventory's connection variables, as in Ansible; -u below remote_user
	}
	if _, set := vars["ansible_port"]; !set && vars["ansible_ssh_port"] == nil && play.Port != 0 {
		vars["ansible_port"] = play.Port // the port keyword, below ansible_port
	}
	if _, set := vars["ansible_connection"]; !set && play.Connection == "" && e.opt.DefaultConnection != "" {
		vars["ansible_connection"] = e.opt.DefaultConnection // -c: below ansible_connection and the play's connection
	}
	out := map[string]any{}
	for k, v := range vars {
		if r, err := e.tpl.RenderValue(v, vars); err == nil {
			out[k] = r
		} else {
			out[k] = v
		}
	}
	return out
}

// runHost runs the batch's play on one host: connect and gather facts,
// then the play's sections, each followed by its handlers. It returns the
// host's state (nil when it never started) and its failure.
func (e *Engine) runHost(ctx context.Context, b *batch, h *inventory.Host, counts *Counts) (*hostRun, error) {
	if r := e.knownHost(h.Name); r != nil && r.failed {
		return r, nil // failed in an earlier play: Ansible leaves it out
	}
	release, err := e.hostSlot(ctx, b, h.Name) // step.go
	if err != nil {
		return nil, &HostError{Host: h.Name, Err: err}
	}
	r, err := e.startHost(ctx, b.play, h, counts)
	release()
	if err != nil || r.failed {
		return r, err
	}
	r.batch, r.fatal = b, b.play.AnyErrorsFatal
	defer func() { r.batch = nil }()
	if err := e.runSections(ctx, b.play, r); err != nil {
		r.failed = true
		return r, err
	}
	return r, nil
}

// lazyDown reports whether a dial error may wait for the first task that
// needs the host: the host did not answer. A host key or login that is
// refused always ends the host at once.
func lazyDown(err error) bool {
	return errors.Is(err, conn.ErrUnreachable) && !errors.Is(err, conn.ErrHostKey) && !errors.Is(err, conn.ErrAuth)
}

// knownHost is the host's state when it ran before in this run.
func (e *Engine) knownHost(name string) *hostRun {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.hosts[name]
}

// startHost connects and gathers facts when the play asks for them.
func (e *Engine) startHost(ctx context.Context, play *playbooks.Play, h *inventory.Host, counts *Counts) (*hostRun, error) {
	gather := play.GatherFacts == nil || *play.GatherFacts
	ignore := play.IgnoreUnreachable != nil && *play.IgnoreUnreachable
	r, err := e.hostRunFor(ctx, play, h)
	if err != nil && r != nil && r.reconnect != nil && lazyDown(err) && (!gather || ignore) {
		// ansible-core connects when a task first runs something on the
		// host, so a host that is down at the start of a play without
		// facts stays in it: tasks that need no host (set_fact, debug,
		// delegated ones) run, and the first that reaches the host is
		// unreachable there, where ignore_unreachable applies. The
		// implicit Gathering Facts takes the play's ignore_unreachable.
		r.mu.Lock()
		r.unreachable, r.base = false, deadConn{err}
		r.mu.Unlock()
		err = nil
	}
	if err != nil {
		counts.add(StatusUnreachable)
		e.emitResult(play, &playbooks.Task{Name: "Connecting", Pos: play.Pos}, h.Name, StatusUnreachable, e.secrets.Redact(err.Error()), nil, 0, nil)
		return r, &HostError{Host: h.Name, Err: err}
	}
	r.counts = counts
	if r.failed {
		return r, nil
	}
	if gather && r.facts == nil && len(play.GatherWhen) > 0 {
		// an import_playbook's when, evaluated as its setup task's is
		ok, err := e.allTrue(play.GatherWhen, e.taskVars(play, r, nil, &playbooks.Task{Pos: play.Pos}))
		if err != nil {
			counts.add(StatusFailed)
			e.emitResult(play, &playbooks.Task{Name: "Gathering facts", Pos: play.Pos}, h.Name, StatusFailed, e.secrets.Redact(err.Error()), nil, 0, nil)
			return r, &HostError{Host: h.Name, Task: "Gathering facts", Pos: play.Pos.String(), Err: err}
		}
		if !ok {
			counts.add(StatusSkipped)
			e.emitResult(play, &playbooks.Task{Name: "Gathering facts", Pos: play.Pos}, h.Name, StatusSkipped, "condition false", nil, 0, nil)
			gather = false
		}
	}
	if gather && r.facts == nil {
		start := time.Now()
		e.redial(ctx, r) // a host kept in play while down (unreachable.go)
		facts, err := gatherFacts(ctx, factHost{r}, e.opt.Logger.With("host", h.Name))
		if err != nil {
			st := StatusFailed
			if errors.Is(err, conn.ErrConnLost) || errors.Is(err, conn.ErrUnreachable) {
				st = StatusUnreachable
			}
			if st == StatusUnreachable && ignore {
				r.redial = true // the next task dials again
				counts.add(StatusIgnored)
				e.emitResult(play, &playbooks.Task{Name: "Gathering facts", Pos: play.Pos}, h.Name, StatusIgnored,
					"host unreachable, ignored (ignore_unreachable): "+e.secrets.Redact(err.Error()), nil, time.Since(start), nil)
				return r, nil // facts stay unset: a later play gathers them
			}
			r.unreachable = st == StatusUnreachable
			counts.add(st)
			e.emitResult(play, &playbooks.Task{Name: "Gathering facts", Pos: play.Pos}, h.Name, st, e.secrets.Redact(err.Error()), nil, time.Since(start), nil)
			return r, &HostError{Host: h.Name, Task: "Gathering facts", Pos: play.Pos.String(), Err: err}
		}
		r.mu.Lock() // other hosts read it for hostvars
		r.facts = facts
		r.mu.Unlock()
		counts.add(StatusOK)
		e.emitResult(play, &playbooks.Task{Name: "Gathering facts", Pos: play.Pos}, h.Name, StatusOK, "", nil, time.Since(start), nil)
	}
	return r, nil
}

// runSections runs pre_tasks, roles and tasks, and post_tasks, flushing
// the handlers they notified after each, where Ansible flushes them.
func (e *Engine) runSections(ctx context.Context, play *playbooks.Play, r *hostRun) error {
	notified := map[string]bool{}
	sections := [][]*playbooks.Task{play.PreTasks, slices.Concat(play.Roles, play.Tasks), play.PostTasks}
	for i, tasks := range sections {
		r.section = sectionPre + 2*i
		for _, t := range tasks {
			if ctx.Err() != nil {
				return &HostError{Host: r.inv.Name, Err: ctx.Err()}
			}
			if err := e.runTask(ctx, play, r, t, nil, notified); err != nil {
				if isEnded(err) { // meta.go: ended, not failed; no handlers
					return nil
				}
				return err
			}
		}
		r.section++
		if err := e.runHandlers(ctx, play, r, notified); err != nil {
			return err
		}
		clear(notified)
	}
	return nil
}

// runHandlers runs notified handlers once each, in the order the play
// defines them; a handler may notify later ones.
func (e *Engine) runHandlers(ctx context.Context, play *playbooks.Play, r *hostRun, notified map[string]bool) error {
	ran := map[*playbooks.Task]bool{}
	for {
		progressed := false
		for _, hd := range slices.Concat(play.Handlers, r.handlers) {
			if ran[hd] || !(notified[hd.Name] || slices.ContainsFunc(hd.Listen, func(l string) bool { return notified[l] })) {
				continue
			}
			ran[hd] = true
			progressed = true
			if err := e.runTask(ctx, play, r, hd, nil, notified); err != nil {
				return err
			}
		}
		if !progressed {
			return nil
		}
	}
}

// sshUser is the user a host's connection variables name, "" for none.
func sshUser(vars map[string]any) string {
	for _, k := range []string{"ansible_user", "ansible_ssh_user", "gpuctl_user"} {
		if v, ok := vars[k]; ok && v != nil {
			return fmt.Sprint(v)
		}
	}
	return ""
}
