package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/facts"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
	"github.com/gpuctl/gpuctl/playbooks"
	"github.com/gpuctl/gpuctl/template"
)

// execution is what running a module produced.
type execution struct {
	diff    plan.Diff
	applied bool
	err     error
	dur     time.Duration
	res     map[string]any
}

// apply runs check → apply → re-check, again while until is not met.
func (tr *taskRun) apply(ctx context.Context, m modules.Module, h *taskHost) execution {
	t := tr.task
	start := time.Now()
	stopSlow := tr.e.reportSlow(tr.play, t, tr.host.inv.Name, start)
	defer stopSlow()
	runOnce := func() (plan.Diff, bool, error, map[string]any) {
		// In check mode an async task is checked as in the foreground:
		// nothing starts, and the plan says what the job would do.
		// ansible-core fails it instead ("check mode and async cannot be
		// used on same task."), which would end a dry run where the real
		// run goes on.
		if t.Async > 0 && !tr.check {
			d, applied, err, res := tr.runAsync(ctx, m, h) // async.go
			// The job's output reaches the result unmasked, unlike a
			// module's Result, which result() masks.
			res, _ = tr.e.redactValue(res).(map[string]any)
			return d, applied, err, res
		}
		d, applied, err := tr.e.checkApply(ctx, m, h, tr.check)
		return d, applied, err, tr.e.result(m, d, err)
	}
	diff, applied, err, res := runOnce()
	// As Ansible: retries more attempts after the first (3 in all when
	// unset), and an until still false after the last fails the task.
	total := t.Retries + 1
	if t.Retries == 0 {
		total = 3
	}
	for attempt := 1; len(t.Until) > 0 && ctx.Err() == nil; attempt++ {
		ok, uerr := tr.untilMet(res)
		if uerr != nil || ok || tr.check {
			break
		}
		if attempt == total {
			if err == nil {
				err = fmt.Errorf("until %q still false after %d attempts", t.Until, attempt)
			}
			break
		}
		select {
		case <-time.After(time.Duration(max(t.Delay, 1)) * time.Second):
		case <-ctx.Done():
		}
		diff, applied, err, res = runOnce()
	}
	return execution{diff: diff, applied: applied, err: err, dur: time.Since(start), res: res}
}

// judge turns what the module did into the task's outcome: skipped by the
// module, unreachable, failed (failed_when), changed (changed_when), or
// known only after apply.
func (tr *taskRun) judge(m modules.Module, args map[string]any, ex execution) outcome {
	if s, ok := m.(modules.Skipper); ok && ex.err == nil {
		if why := s.Skip(); why != "" {
			ex.res["skipped"], ex.res["msg"] = true, why
			return outcome{status: StatusSkipped, msg: why, dur: ex.dur, res: ex.res}
		}
	}
	o := tr.verdict(m, args, ex)
	if fs, ok := m.(modules.FactSetter); ok && ex.err == nil {
		o.facts = fs.SetFacts()
	}
	o.res = ex.res
	return o
}

func (tr *taskRun) verdict(m modules.Module, args map[string]any, ex execution) outcome {
	t, res := tr.task, ex.res
	// Transport failures end the host regardless of failed_when.
	if ex.err != nil && (errors.Is(ex.err, conn.ErrConnLost) || errors.Is(ex.err, conn.ErrUnreachable)) {
		return outcome{status: StatusUnreachable, err: ex.err, dur: ex.dur}
	}
	vars := tr.vars
	if t.Register != "" {
		vars = maps.Clone(vars)
		vars[t.Register] = res
	}
	failed := ex.err != nil
	if len(t.FailedWhen) > 0 && !errors.Is(ex.err, context.Canceled) {
		v, err := tr.e.allTrue(t.FailedWhen, vars)
		if err != nil {
			return *tr.failure(fmt.Errorf("failed_when: %w", err))
		}
		failed = v
	}
	o := tr.conclude(m, args, ex, vars, failed)
	// In check mode a task that would act leaves its registered result and
	// the files it would write unknown, whatever changed_when says: later
	// tasks must not be judged on a result that was never produced.
	if tr.check && !ex.applied && !ex.diff.Empty() {
		o.pendingRegister = true
		o.pendingPaths = ex.diff.Paths()
	}
	return o
}

func (tr *taskRun) conclude(m modules.Module, args map[string]any, ex execution, vars map[string]any, failed bool) outcome {
	t, res := tr.task, ex.res
	changed := template.Truthy(res["changed"])
	if len(t.ChangedWhen) > 0 {
		v, err := tr.e.allTrue(t.ChangedWhen, vars)
		if err != nil {
			return *tr.failure(fmt.Errorf("changed_when: %w", err))
		}
		changed = v
	}
	res["changed"], res["failed"] = changed, failed
	if failed && tr.e.opt.Check && ex.err != nil {
		// A task forced to run in check mode (check_mode: false) failing on
		// a path an earlier task would create is a consequence of check
		// mode, not a verdict on the playbook.
		if p := tr.e.pendingCause(tr.host, ex.err, args); p != "" {
			return *tr.unknown(fmt.Sprintf("failed on %s, which an earlier task would change", p))
		}
	}
	if failed {
		err := ex.err
		if err == nil {
			err = errors.New("failed_when condition met")
		}
		return outcome{status: StatusFailed, err: err, diff: &ex.diff, dur: ex.dur}
	}
	if changed && tr.check && !ex.applied && ex.diff.Unknown != "" && len(ex.diff.Changes) == 0 {
		// The module itself could not tell: say so rather than "would change".
		return *tr.unknown(ex.diff.Unknown)
	}
	msg := ""
	if mm, ok := m.(modules.Messager); ok {
		msg = mm.Message()
	}
	if changed {
		return outcome{status: StatusChanged, msg: msg, diff: &ex.diff, dur: ex.dur}
	}
	return outcome{status: StatusOK, msg: msg, dur: ex.dur}
}

// record is the one place an outcome takes effect: the host's counts, the
// registered result, check-mode bookkeeping, notified handlers and the
// event. It returns an error when the host must stop.
func (tr *taskRun) record(o outcome) (map[string]any, error) {
	e, r, t := tr.e, tr.host, tr.task
	res := o.res
	if res == nil {
		res = newResult()
	}
	if len(o.facts) > 0 {
		target := e.factTarget(r, t, tr.vars) // delegate.go
		for k, v := range o.facts {
			target.setVar(k, v)
		}
		r.capture(o.facts) // once.go: a run_once task's facts go to its batch
	}
	for _, p := range o.pendingPaths {
		r.markPendingPath(p)
	}
	if o.status == StatusFailed && t.IgnoreErrors {
		o.status = StatusIgnored
	}
	if o.status == StatusUnreachable && t.IgnoreUnreachable != nil && *t.IgnoreUnreachable {
		return tr.recordIgnoredUnreachable(o, res) // unreachable.go
	}
	if o.status == StatusChanged {
		if n, ok := e.handlersKnown(tr.play, r, t); !ok {
			// ansible-core: "The requested handler ... was not found"
			o.status, o.err = StatusFailed, fmt.Errorf("the requested handler %q was not found in the play's handlers nor among their listen names", n)
		}
	}
	var stop error
	switch o.status {
	case StatusSkipped:
		res["skipped"] = true
	case StatusUnknown:
		res["changed"] = true
		o.pendingRegister = true
	case StatusChanged:
		for _, n := range t.Notify {
			tr.notified[n] = true
		}
	case StatusFailed, StatusIgnored, StatusUnreachable:
		o.msg = e.redact(o.err.Error())
		res["failed"], res["msg"] = true, o.msg
		if o.status != StatusIgnored {
			stop = e.hostErr(r, t, o.err)
		}
		if o.status == StatusUnreachable {
			r.unreachable = true
			res["unreachable"] = true
		}
	}
	if o.pendingRegister && t.Register != "" {
		r.markPendingVar(t.Register)
	}
	if stop == nil {
		stop = o.control
	}
	r.counts.add(o.status)
	d, show := o.diff, false
	if k := tr.diffKeyword(); k != nil {
		// diff: false hides the task's diff (a secret's file), though not
		// why it is unknown; diff: true shows it without --diff
		show = *k
		if !show && d != nil && d.Unknown == "" {
			d = nil
		}
	}
	e.emitResultDiff(tr.play, t, r.inv.Name, o.status, e.redact(o.msg), d, o.dur, tr.itemLabel(), show)
	if !tr.looped {
		e.register(r, t, res)
	}
	return res, stop
}

func newResult() map[string]any {
	return map[string]any{"changed": false, "failed": false, "skipped": false}
}

// checkApply is the single code path for check and apply: measure, and
// change only when asked and needed, then measure again.
func (e *Engine) checkApply(ctx context.Context, m modules.Module, h *taskHost, check bool) (plan.Diff, bool, error) {
	if e.opt.TaskTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, e.opt.TaskTimeout)
		defer cancel()
	}
	if err := refuseSELinux(ctx, m, h); err != nil {
		return plan.Diff{}, false, err
	}
	d, err := safeCheck(ctx, m, h)
	if ny := (*modules.NotYetError)(nil); errors.As(err, &ny) && check {
		// The module cannot measure before an earlier task acts: under
		// --check that is "known after apply"; in a real run the error
		// stands and fails the task with its reason.
		return plan.Diff{Unknown: ny.Reason}, false, nil
	}
	if err != nil || d.Empty() || check {
		return d, false, err
	}
	err = safeApply(ctx, m, h, d)
	// The task changed the host: facts read from now on are measured again.
	h.run.cache.Invalidate()
	if ad, ok := m.(modules.AppliedDiffer); ok {
		d = ad.AppliedDiff()
	}
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

// refuseSELinux fails a task that gives SELinux context arguments (seuser,
// setype, ...) on a host with SELinux enabled, before the module measures:
// gpuctl sets no contexts, and a file left with another label than the task
// says breaks the service that reads it only later. Without SELinux they mean
// nothing, as ansible-core skips them, and the host is not asked at all when
// the task gives none.
func refuseSELinux(ctx context.Context, m modules.Module, h modules.Host) error {
	l, ok := m.(modules.SELinuxLabeler)
	if !ok {
		return nil
	}
	args := l.SELinuxArgs()
	if len(args) == 0 {
		return nil
	}
	// Read past the host's fact cache: a delegated task's connection is
	// another host's, whose answer must not be cached as this one's.
	on, err := facts.Get(ctx, connOnly{h.Conn()}, facts.SELinux)
	if err != nil {
		return fmt.Errorf("%s: is SELinux enabled? %w", strings.Join(args, ", "), err)
	}
	if on {
		return fmt.Errorf("%s: SELinux is enabled on this host (%s exists) and gpuctl does not set SELinux contexts; "+
			"set them with chcon or semanage fcontext, or leave these arguments out", strings.Join(args, ", "), facts.SELinux.File)
	}
	return nil
}

// connOnly is a facts.Host without a cache.
type connOnly struct{ c conn.Conn }

func (h connOnly) Conn() conn.Conn { return h.c }

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
func (e *Engine) result(m modules.Module, d plan.Diff, err error) map[string]any {
	out := newResult()
	out["changed"] = !d.Empty()
	out["failed"] = err != nil
	if err != nil {
		out["msg"] = e.redact(err.Error())
	}
	if sr, ok := m.(modules.SecretResults); ok {
		for _, s := range sr.SecretResults() {
			e.addSecret(s)
		}
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

func (tr *taskRun) untilMet(res map[string]any) (bool, error) {
	v := maps.Clone(tr.vars)
	if tr.task.Register != "" {
		v[tr.task.Register] = res
	}
	return tr.e.allTrue(tr.task.Until, v)
}

func (e *Engine) allTrue(conds []string, vars map[string]any) (bool, error) {
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

// handlersKnown reports whether every handler t notifies is in the play
// (or among the handlers of roles r included at run time), by name or
// listen; if not, it returns the first that is not. Templated names are
// left to the run, as before.
func (e *Engine) handlersKnown(play *playbooks.Play, r *hostRun, t *playbooks.Task) (string, bool) {
	if len(t.Notify) == 0 {
		return "", true
	}
	r.mu.Lock()
	dynamic := slices.Clone(r.handlers)
	r.mu.Unlock()
	for _, n := range t.Notify {
		if template.IsTemplate(n) {
			continue
		}
		found := false
		for _, h := range append(slices.Clone(play.Handlers), dynamic...) {
			if h.Name == n || slices.Contains(h.Listen, n) {
				found = true
				break
			}
		}
		if !found {
			return n, false
		}
	}
	return "", true
}

// itemLabel is how a loop item is shown: loop_control's label, rendered
// for the item, or the item.
func (tr *taskRun) itemLabel() any {
	if !tr.looped || tr.task.LoopControl.Label == "" {
		return tr.item
	}
	if l, err := tr.e.tpl.Render(tr.task.LoopControl.Label, tr.vars); err == nil {
		return l
	}
	return tr.item
}

// diffKeyword is the diff keyword that applies to the task: its own, its
// blocks' and roles', or the play's; nil when none is set.
func (tr *taskRun) diffKeyword() *bool {
	switch {
	case tr.task.Diff != nil:
		return tr.task.Diff
	case tr.scope != nil && tr.scope.diff != nil:
		return tr.scope.diff
	}
	return tr.play.Diff
}
