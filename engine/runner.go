package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
	"github.com/gpuctl/gpuctl/playbooks"
)

// taskRun is one task (one loop item) on one host. Its stages run in a
// straight line: decide (conditions) → build (render arguments, decode the
// module, pick the connection) → execute (check, apply, re-check, until) →
// judge (failed_when, changed_when, known after apply). Each stage either
// lets the next one run or ends with an outcome; record alone turns an
// outcome into counts, the registered result, notifications and the event.
type taskRun struct {
	e        *Engine
	play     *playbooks.Play
	host     *hostRun
	task     *playbooks.Task
	scope    *scope
	vars     map[string]any
	item     any
	looped   bool // a loop item: the loop registers the aggregate instead
	check    bool // this task's check mode (check_mode: overrides --check)
	notified map[string]bool
}

func (e *Engine) newTaskRun(play *playbooks.Play, r *hostRun, t *playbooks.Task, sc *scope, vars map[string]any, notified map[string]bool) *taskRun {
	check := e.opt.Check
	if t.CheckMode != nil {
		check = *t.CheckMode
	}
	return &taskRun{e: e, play: play, host: r, task: t, scope: sc, vars: vars, check: check, notified: notified}
}

// forItem returns the run of one loop item.
func (tr *taskRun) forItem(vars map[string]any, item any) *taskRun {
	out := *tr
	out.vars, out.item, out.looped = vars, item, true
	return &out
}

// outcome is how a task ended on a host.
type outcome struct {
	status Status
	msg    string     // for the task line; record masks secrets
	diff   *plan.Diff // shown with --diff (and always when unknown)
	dur    time.Duration
	err    error          // the failure, for failed, ignored and unreachable
	res    map[string]any // the registered result; nil: only changed/failed/skipped
	// check-mode bookkeeping: what later tasks must treat as known after apply
	pendingRegister bool
	pendingPaths    []string
	facts           map[string]any // set_fact and the like
	// control ends the host's play without failing it (meta.go)
	control error
}

// run executes the task and records its outcome. The error is non-nil only
// when the host must stop.
func (tr *taskRun) run(ctx context.Context) (map[string]any, error) {
	return tr.record(tr.execute(ctx))
}

func (tr *taskRun) execute(ctx context.Context) outcome {
	if o := tr.decide(); o != nil {
		return *o
	}
	if err := tr.renderKeywords(); err != nil { // keywords.go
		return *tr.failure(err)
	}
	m, c, args, o := tr.build(ctx)
	if o != nil {
		return *o
	}
	host := &taskHost{run: tr.host, conn: c, vars: tr.vars, tpl: tr.e.tpl, check: tr.check,
		log: tr.e.opt.Logger.With("host", tr.host.inv.Name, "task", tr.task.Title())}
	if tr.e.opt.Check {
		host.pending = func(refs []string) string { return tr.e.pendingRef(tr.host, refs) }
	}
	if tr.task.DelegateTo != "" {
		host.delegate, _ = tr.e.tpl.RenderString(tr.task.DelegateTo, tr.vars) // connFor rendered it already
	}
	if a, ok := m.(action); ok { // actions.go: meta, include_vars, setup
		return tr.runAction(ctx, a, args, host)
	}
	ex := tr.apply(ctx, m, host)
	if errors.Is(ex.err, conn.ErrConnLost) && tr.task.DelegateTo == "" {
		ex.err = tr.e.explainLost(ctx, tr.host, tr.vars, ex.err) // lost.go
	}
	return tr.judge(m, args, ex)
}

// decide evaluates the conditions. A condition that reads a result only
// known after apply makes the task unknown, unless an earlier condition
// already skips it; the arguments are looked at last for the same reason.
func (tr *taskRun) decide() *outcome {
	conds, refs := tr.task.When, tr.task.Refs.When
	if tr.scope != nil {
		conds = append(append([]string{}, tr.scope.when...), tr.task.When...)
		refs = append(append([][]string{}, tr.scope.whenRefs...), tr.task.Refs.When...)
	}
	for i, cond := range conds {
		if tr.e.opt.Check && i < len(refs) {
			if why := tr.e.pendingRef(tr.host, refs[i]); why != "" {
				return tr.unknown(why)
			}
		}
		ok, err := tr.e.tpl.EvalBool(cond, tr.vars)
		if err != nil {
			return tr.failure(fmt.Errorf("when %q: %w", cond, err))
		}
		if !ok {
			return &outcome{status: StatusSkipped, msg: "condition false: " + cond}
		}
	}
	if tr.e.opt.Check {
		if why := tr.e.pendingRef(tr.host, tr.task.Refs.Args); why != "" {
			return tr.unknown(why)
		}
	}
	return nil
}

// build renders the arguments, decodes them into the module and picks the
// connection.
func (tr *taskRun) build(ctx context.Context) (modules.Module, conn.Conn, map[string]any, *outcome) {
	rendered, err := tr.e.tpl.RenderValue(tr.task.Args, tr.vars)
	if err != nil {
		return nil, nil, nil, tr.failure(fmt.Errorf("arguments: %w", err))
	}
	args, _ := tr.e.removeOmit(rendered).(map[string]any)
	if args, err = tr.withModuleDefaults(args); err != nil { // moduledefaults.go
		return nil, nil, nil, tr.failure(err)
	}
	if setsNames[modules.Canonical(tr.task.Module)] {
		if args, err = tr.renderKeys(args); err != nil {
			return nil, nil, nil, tr.failure(err)
		}
	}
	m, secrets, err := buildModule(tr.task, args)
	for _, sec := range secrets {
		tr.e.addSecret(sec)
	}
	if err != nil {
		return nil, nil, nil, tr.failure(err)
	}
	if tr.e.opt.Check {
		if why := tr.e.pendingRead(tr.host, m); why != "" {
			return nil, nil, nil, tr.unknown(why)
		}
	}
	tr.e.redial(ctx, tr.host) // unreachable.go
	if o := tr.hostDown(); o != nil {
		return nil, nil, nil, o
	}
	c, err := tr.e.connFor(ctx, tr.play, tr.host, tr.task, tr.scope, tr.vars)
	if err == nil {
		c, err = tr.e.withEnvironment(c, tr.play, tr.scope, tr.task, tr.vars) // environment.go
	}
	if err != nil {
		return nil, nil, nil, tr.failure(err)
	}
	return m, c, args, nil
}

// failure is a task that failed before or after its module ran.
func (tr *taskRun) failure(err error) *outcome {
	return &outcome{status: StatusFailed, err: err}
}

// unknown is a task whose outcome is only known after apply.
func (tr *taskRun) unknown(why string) *outcome {
	return &outcome{status: StatusUnknown, msg: why, diff: &plan.Diff{Unknown: why}}
}

// recordOnly records an outcome for a task that runs no module itself (an
// include deciding its when, a loop whose expression fails); like a loop
// item it registers nothing.
func (e *Engine) recordOnly(play *playbooks.Play, r *hostRun, t *playbooks.Task, item any, o outcome) error {
	tr := e.newTaskRun(play, r, t, nil, nil, nil)
	tr.item, tr.looped = item, true
	_, err := tr.record(o)
	return err
}

// fail records a failure before any module ran; the error stops the host
// unless the task ignores errors.
func (e *Engine) fail(play *playbooks.Play, r *hostRun, t *playbooks.Task, item any, err error) error {
	return e.recordOnly(play, r, t, item, outcome{status: StatusFailed, err: err})
}

// setsNames are the modules whose argument names are variable names, which
// ansible-core's action plugins template (set_fact: "{{ item.key }}": v).
var setsNames = map[string]bool{"set_fact": true}

// renderKeys renders the argument names that are templates.
func (tr *taskRun) renderKeys(args map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(args))
	for k, v := range args {
		if strings.Contains(k, "{{") || strings.Contains(k, "{%") {
			r, err := tr.e.tpl.RenderString(k, tr.vars)
			if err != nil {
				return nil, fmt.Errorf("variable name %q: %w", k, err)
			}
			k = r
		}
		out[k] = v
	}
	return out, nil
}
