package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
	"github.com/gpuctl/gpuctl/playbooks"
	"github.com/gpuctl/gpuctl/template"
)

// invoke runs one task (one loop item) on one host: when → render → decode →
// check → apply → verify, with until/retries, changed_when and failed_when.
// It returns the registered result and an error when the host must stop.
func (e *Engine) invoke(ctx context.Context, play *playbooks.Play, r *hostRun, t *playbooks.Task, sc *scope, vars map[string]any, item any, notified map[string]bool) (map[string]any, error) {
	res := map[string]any{"changed": false, "failed": false, "skipped": false}
	check := e.opt.Check
	if t.CheckMode != nil {
		check = *t.CheckMode
	}
	// A task depending on something an earlier task would change cannot be
	// judged from the host's current state: say so instead of guessing. A
	// condition that does not depend on such a thing is decided first, so a
	// task skipped anyway is reported skipped.
	conds := t.When
	if sc != nil {
		conds = append(append([]string{}, sc.when...), t.When...)
	}
	for _, cond := range conds {
		if e.opt.Check {
			if why := e.pendingIn(r, cond); why != "" {
				return e.unknown(play, r, t, item, why, res), nil
			}
		}
		ok, err := e.tpl.EvalBool(cond, vars)
		if err != nil {
			return failed(res, err), e.fail(play, r, t, item, fmt.Errorf("when %q: %w", cond, err))
		}
		if !ok {
			res["skipped"] = true
			r.counts.Skipped++
			e.emitResult(play, t, r.inv.Name, StatusSkipped, "condition false: "+cond, nil, 0, item)
			return res, nil
		}
	}
	if e.opt.Check {
		if why := e.pendingIn(r, fmt.Sprint(t.Args, t.Loop, t.ChangedWhen, t.FailedWhen)); why != "" {
			return e.unknown(play, r, t, item, why, res), nil
		}
	}
	rendered, err := e.tpl.RenderValue(t.Args, vars)
	if err != nil {
		return failed(res, err), e.fail(play, r, t, item, fmt.Errorf("arguments: %w", err))
	}
	args, _ := rendered.(map[string]any)
	m, secrets, err := buildModule(t, args)
	for _, s := range secrets {
		e.addSecret(s)
	}
	if err != nil {
		return failed(res, err), e.fail(play, r, t, item, err)
	}
	if e.opt.Check {
		if why := e.pendingPath(r, m); why != "" {
			return e.unknown(play, r, t, item, why, res), nil
		}
	}
	c, err := e.connFor(ctx, play, r, t, sc, vars)
	if err == nil {
		c, err = e.withEnvironment(c, play, sc, t, vars) // environment.go
	}
	if err != nil {
		return failed(res, err), e.fail(play, r, t, item, err)
	}
	host := &taskHost{run: r, conn: c, vars: vars, tpl: e.tpl, check: check, log: e.opt.Logger.With("host", r.inv.Name, "task", t.Title())}

	start := time.Now()
	stopSlow := e.reportSlow(play, t, r.inv.Name, start)
	diff, applied, runErr := e.checkApply(ctx, t, m, host, check)
	for attempt := 1; len(t.Until) > 0 && attempt <= max(t.Retries, 1) && ctx.Err() == nil; attempt++ {
		res = e.result(res, m, diff, applied, runErr)
		e.register(r, t, res)
		ok, err := e.untilMet(t, vars, res)
		if err != nil || ok || check {
			break
		}
		select {
		case <-time.After(time.Duration(max(t.Delay, 1)) * time.Second):
		case <-ctx.Done():
		}
		diff, applied, runErr = e.checkApply(ctx, t, m, host, check)
	}
	stopSlow()
	dur := time.Since(start)
	res = e.result(res, m, diff, applied, runErr)

	if s, ok := m.(modules.Skipper); ok && runErr == nil {
		if why := s.Skip(); why != "" {
			res["skipped"], res["msg"] = true, why
			r.counts.Skipped++
			e.emitResult(play, t, r.inv.Name, StatusSkipped, why, nil, dur, item)
			return res, nil
		}
	}
	if fs, ok := m.(modules.FactSetter); ok && runErr == nil {
		target := e.factTarget(r, t, vars) // delegate.go
		for k, v := range fs.SetFacts() {
			target.setVar(k, v)
		}
	}
	// Transport failures end the host regardless of failed_when.
	if runErr != nil && (errors.Is(runErr, conn.ErrConnLost) || errors.Is(runErr, conn.ErrUnreachable)) {
		r.unreachable = true
		r.counts.Unreachable++
		e.emitResult(play, t, r.inv.Name, StatusUnreachable, e.redact(runErr.Error()), nil, dur, item)
		return failed(res, runErr), e.hostErr(r, t, runErr)
	}
	isFailed := runErr != nil
	if t.Register != "" {
		vars = maps.Clone(vars)
		vars[t.Register] = res
	}
	if len(t.FailedWhen) > 0 && !errors.Is(runErr, context.Canceled) {
		v, err := e.allTrue(t.FailedWhen, vars, res)
		if err != nil {
			return failed(res, err), e.fail(play, r, t, item, fmt.Errorf("failed_when: %w", err))
		}
		isFailed = v
	}
	// In check mode a task that would act leaves its registered result and
	// the files it would write unknown, whatever changed_when says: later
	// tasks must not be judged on a result that was never produced.
	if check && !applied && !diff.Empty() {
		if t.Register != "" {
			r.markPendingVar(t.Register)
		}
		for _, p := range diff.Paths() {
			r.markPendingPath(p)
		}
	}
	changed := template.Truthy(res["changed"])
	if len(t.ChangedWhen) > 0 {
		v, err := e.allTrue(t.ChangedWhen, vars, res)
		if err != nil {
			return failed(res, err), e.fail(play, r, t, item, fmt.Errorf("changed_when: %w", err))
		}
		changed = v
	}
	res["changed"], res["failed"] = changed, isFailed
	msg := ""
	if mm, ok := m.(modules.Messager); ok {
		msg = mm.Message()
	}
	if isFailed && e.opt.Check && runErr != nil {
		// A task forced to run in check mode (check_mode: false) failing on a
		// path an earlier task would create is a consequence of check mode,
		// not a verdict on the playbook.
		for _, p := range r.pendingPathList() {
			if strings.Contains(runErr.Error(), p) {
				return e.unknown(play, r, t, item, fmt.Sprintf("failed on %s, which an earlier task would change", p), res), nil
			}
		}
	}
	if isFailed {
		err := runErr
		if err == nil {
			err = fmt.Errorf("failed_when condition met")
		}
		res["msg"] = e.redact(err.Error())
		if t.IgnoreErrors {
			r.counts.Ignored++
			e.emitResult(play, t, r.inv.Name, StatusIgnored, e.redact(err.Error()), &diff, dur, item)
			return res, nil
		}
		r.counts.Failed++
		e.emitResult(play, t, r.inv.Name, StatusFailed, e.redact(err.Error()), &diff, dur, item)
		return res, e.hostErr(r, t, err)
	}
	if changed && check && !applied && diff.Unknown != "" && len(diff.Changes) == 0 {
		// The module itself could not tell: say so rather than "would change".
		return e.unknown(play, r, t, item, diff.Unknown, res), nil
	}
	if changed {
		r.counts.Changed++
		for _, n := range t.Notify {
			notified[n] = true
		}
		e.emitResult(play, t, r.inv.Name, StatusChanged, msg, &diff, dur, item)
		return res, nil
	}
	r.counts.OK++
	e.emitResult(play, t, r.inv.Name, StatusOK, msg, nil, dur, item)
	return res, nil
}

// checkApply is the single code path for check and apply: measure, and
// change only when asked and needed, then measure again.
func (e *Engine) checkApply(ctx context.Context, t *playbooks.Task, m modules.Module, h *taskHost, check bool) (plan.Diff, bool, error) {
	if e.opt.TaskTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, e.opt.TaskTimeout)
		defer cancel()
	}
	d, err := safeCheck(ctx, m, h)
	if ny := (*modules.NotYetError)(nil); errors.As(err, &ny) && check {
		// The module cannot measure before an earlier task acts: under
		// --check that is "known after apply", not a failure.
		return plan.Diff{Unknown: ny.Reason}, false, nil
	}
	if err != nil || d.Empty() || check {
		return d, false, err
	}
	err = safeApply(ctx, m, h, d)
	// The task changed the host: facts read from now on are measured again.
	h.run.cache.Invalidate()
	if err != nil {
		return d, true, err
	}
	if u, ok := m.(modules.Unverified); ok && u.Unverified() {
		return d, true, nil
	}
	again, err := safeCheck(ctx, m, h)
	if err != nil {
		return d, true, fmt.Errorf("verify after apply: %w", err)
	}
	if !again.Empty() {
		return d, true, fmt.Errorf("%w: still differs in %v", ErrModuleBug, again.Resources())
	}
	return d, true, nil
}

// safeCheck and safeApply turn a module's panic into a task failure, so
// one broken module cannot take down every host's run.
func safeCheck(ctx context.Context, m modules.Module, h modules.Host) (d plan.Diff, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("module panicked in check: %v", p)
		}
	}()
	return m.Check(ctx, h)
}

func safeApply(ctx context.Context, m modules.Module, h modules.Host, d plan.Diff) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("module panicked in apply: %v", p)
		}
	}()
	return m.Apply(ctx, h, d)
}

// result builds the registered value of a task.
func (e *Engine) result(res map[string]any, m modules.Module, d plan.Diff, applied bool, err error) map[string]any {
	out := maps.Clone(res)
	out["changed"] = !d.Empty()
	out["failed"] = err != nil
	if err != nil {
		out["msg"] = e.redact(err.Error())
	}
	var rs modules.Resulter
	if errors.As(err, &rs) || func() bool { r, ok := m.(modules.Resulter); rs = r; return ok }() {
		for k, v := range rs.Result() {
			out[k] = e.redactValue(v)
		}
	}
	if mm, ok := m.(modules.Messager); ok && out["msg"] == nil {
		out["msg"] = mm.Message()
	}
	return out
}

func (e *Engine) untilMet(t *playbooks.Task, vars map[string]any, res map[string]any) (bool, error) {
	v := maps.Clone(vars)
	if t.Register != "" {
		v[t.Register] = res
	}
	return e.allTrue(t.Until, v, res)
}

func (e *Engine) allTrue(conds []string, vars map[string]any, res map[string]any) (bool, error) {
	for _, c := range conds {
		ok, err := e.tpl.EvalBool(c, vars)
		if err != nil {
			return false, fmt.Errorf("%q: %w", c, err)
		}
		if !ok {
			return false, nil
		}
	}
	return true, nil
}

func (e *Engine) unknown(play *playbooks.Play, r *hostRun, t *playbooks.Task, item any, why string, res map[string]any) map[string]any {
	r.counts.Unknown++
	if t.Register != "" {
		r.markPendingVar(t.Register)
	}
	d := plan.Diff{Unknown: why}
	e.emitResult(play, t, r.inv.Name, StatusUnknown, why, &d, 0, item)
	res["changed"] = true
	return res
}

func (e *Engine) reportSlow(play *playbooks.Play, t *playbooks.Task, host string, start time.Time) func() {
	done := make(chan struct{})
	go func() {
		tick := time.NewTicker(e.opt.SlowAfter)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				e.opt.Reporter.Event(Event{Type: EventTaskSlow, Time: time.Now(), Play: play.Name, Task: t.Title(), Host: host, Duration: time.Since(start)})
			}
		}
	}()
	return func() { close(done) }
}

func failed(res map[string]any, err error) map[string]any {
	res["failed"] = true
	res["msg"] = err.Error()
	return res
}

// buildModule builds the task's module through the Spec the loader
// resolved; tasks made in code without the loader are resolved here.
func buildModule(t *playbooks.Task, args map[string]any) (modules.Module, []string, error) {
	spec := t.Spec
	if spec == nil {
		var err error
		if spec, err = modules.Resolve(t.Module); err != nil {
			return nil, nil, err
		}
	}
	return spec.Build(args)
}

// redactValue masks secrets in strings, also inside lists and maps.
func (e *Engine) redactValue(v any) any {
	switch x := v.(type) {
	case string:
		return e.redact(x)
	case []string:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = e.redact(s)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = e.redactValue(s)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, s := range x {
			out[k] = e.redactValue(s)
		}
		return out
	}
	return v
}
