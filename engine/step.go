package engine

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/gpuctl/gpuctl/playbooks"
	"github.com/gpuctl/gpuctl/template"
)

// fleetScope is what blocks pass down to their tasks for the fleet
// controls: throttle and any_errors_fatal.
type fleetScope struct {
	throttle       int
	anyErrorsFatal *bool
}

// enterFleet takes a block's (or include's) throttle and any_errors_fatal
// into the scope of the tasks inside it.
func (s *scope) enterFleet(t *playbooks.Task) {
	if t.Throttle > 0 {
		s.fleet.throttle = t.Throttle
	}
	if t.AnyErrorsFatal != nil {
		s.fleet.anyErrorsFatal = t.AnyErrorsFatal
	}
}

// stepTurn is a host's permission to run one task.
type stepTurn struct {
	release func()
	// follow is set when another host runs this run_once task for the batch.
	follow *onceRun
	// lead is set when this host runs the run_once task for the batch.
	lead *onceRun
	// bypass: the task runs once for the batch though not run_once
	// (add_host); a follower waits for it and takes nothing from it.
	bypass bool
}

// step waits until the host may run task t: its turn under the play's
// strategy, then (unless another host runs it once for the batch) a slot
// of the task's throttle and one of the run's forks. Forks bound work in
// flight, not hosts in a batch, so linear never waits for a fork that a
// waiting host holds.
func (e *Engine) step(ctx context.Context, r *hostRun, t *playbooks.Task, sc *scope) (*stepTurn, error) {
	b := r.batch
	turn := &stepTurn{release: func() {}}
	if b == nil {
		return turn, nil
	}
	r.fatal = anyErrorsFatal(b.play, sc, t)
	key := b.tasks.key(r.section, t)
	if r.flushAt != nil {
		// handlers flushed by meta come right after the meta task
		key.path = slices.Concat(r.flushAt, key.path)
	}
	lead, err := b.gate.turn(ctx, r.inv.Name, key, t.Title())
	if err != nil {
		return nil, err
	}
	runOnce, err := e.runOnce(b.play, r, t, sc)
	if err != nil {
		return nil, err
	}
	n, err := e.throttle(b.play, r, t, sc)
	if err != nil {
		return nil, err
	}
	turn.bypass = !runOnce && bypassesHostLoop(t.Module) // add_host.go
	if runOnce || turn.bypass {
		o, leads := b.once(t, r.inv.Name, lead)
		if !leads {
			turn.follow = o
			return turn, nil
		}
		turn.lead = o
		r.startCapture()
	}
	if t.Module == "meta" {
		// meta acts on the run, not the host; flush_handlers in particular
		// must not hold a fork while its handlers wait for the other hosts.
		return turn, nil
	}
	turn.release, err = e.slots(ctx, b, t, n)
	if err != nil {
		if turn.lead != nil {
			turn.lead.publish(r, t, nil, err)
		}
		return nil, err
	}
	return turn, nil
}

// runOnce is the task's run_once, rendered with the host's variables when
// it is a template ("{{ inventory_hostname in groups.first }}"), here or
// inherited from a block, as Ansible does.
func (e *Engine) runOnce(play *playbooks.Play, r *hostRun, t *playbooks.Task, sc *scope) (bool, error) {
	v, ok, err := e.fleetKeyword(play, r, t, sc, "run_once")
	if !ok || err != nil {
		return t.RunOnce, err
	}
	return template.Truthy(v), nil
}

// throttle is the task's throttle, its blocks' when it sets none, rendered
// when a template ("{{ zabbix_download_throttle | default(5) | int }}").
func (e *Engine) throttle(play *playbooks.Play, r *hostRun, t *playbooks.Task, sc *scope) (int, error) {
	v, ok, err := e.fleetKeyword(play, r, t, sc, "throttle")
	if !ok || err != nil {
		return throttleOf(t, sc), err
	}
	n, err := strconv.Atoi(strings.TrimSpace(fmt.Sprint(v)))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("throttle: %q is not a number of hosts", fmt.Sprint(v))
	}
	return n, nil
}

// fleetKeyword renders a templated scheduling keyword of t or, when t sets
// it neither way, of its blocks; ok is false when there is none.
func (e *Engine) fleetKeyword(play *playbooks.Play, r *hostRun, t *playbooks.Task, sc *scope, name string) (any, bool, error) {
	src, ok := t.Keywords[name]
	if !ok && sc != nil && !setLiterally(t, name) {
		src, ok = sc.keywords[name]
	}
	if !ok {
		return nil, false, nil
	}
	v, err := e.tpl.Render(src, e.taskVars(play, r, sc, t))
	if err != nil {
		return nil, true, fmt.Errorf("%s: %w", name, err)
	}
	return v, true, nil
}

// slots takes the task's throttle slot, then a fork.
func (e *Engine) slots(ctx context.Context, b *batch, t *playbooks.Task, n int) (func(), error) {
	var throttled func()
	if n > 0 {
		s := b.throttle(t, n)
		if err := s.Acquire(ctx, 1); err != nil {
			return nil, err
		}
		throttled = func() { s.Release(1) }
	}
	if err := e.forks.Acquire(ctx, 1); err != nil {
		if throttled != nil {
			throttled()
		}
		return nil, err
	}
	return func() {
		e.forks.Release(1)
		if throttled != nil {
			throttled()
		}
	}, nil
}

// hostSlot is a turn and a fork for connecting and gathering facts, which
// Ansible runs as the play's first task.
func (e *Engine) hostSlot(ctx context.Context, b *batch, host string) (func(), error) {
	if _, err := b.gate.turn(ctx, host, stepKey{section: sectionFacts}, "Gathering facts"); err != nil {
		return nil, err
	}
	if err := e.forks.Acquire(ctx, 1); err != nil {
		return nil, err
	}
	return func() { e.forks.Release(1) }, nil
}

func throttleOf(t *playbooks.Task, sc *scope) int {
	if t.Throttle > 0 {
		return t.Throttle
	}
	if sc != nil {
		return sc.fleet.throttle
	}
	return 0
}

// anyErrorsFatal is the task's setting, else its blocks', else the play's.
func anyErrorsFatal(play *playbooks.Play, sc *scope, t *playbooks.Task) bool {
	switch {
	case t.AnyErrorsFatal != nil:
		return *t.AnyErrorsFatal
	case sc != nil && sc.fleet.anyErrorsFatal != nil:
		return *sc.fleet.anyErrorsFatal
	}
	return play.AnyErrorsFatal
}

// stepErr is a host stopped while waiting for its turn.
func stepErr(r *hostRun, t *playbooks.Task, err error) error {
	return &HostError{Host: r.inv.Name, Task: t.Title(), Pos: t.Pos.String(), Err: fmt.Errorf("not started: %w", err)}
}
