package engine

import (
	"fmt"
	"maps"

	"github.com/gpuctl/gpuctl/playbooks"
)

// onceRun is a run_once task's single run for a batch. As in Ansible, its
// registered result and the facts it sets go to every host of the batch,
// a change notifies their handlers, and a failure fails them all, so no
// host joins a cluster whose init failed.
type onceRun struct {
	done    chan struct{}
	leader  string
	res     map[string]any
	facts   map[string]any
	pending bool // check mode: the registered result is known after apply
	err     error
}

// once returns the batch's run of t and whether host runs it: the host the
// strategy lets lead (linear: the first of the batch), else the first to
// come (free).
func (b *batch) once(t *playbooks.Task, host string, lead bool) (*onceRun, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	o, ok := b.onces[t]
	if !ok {
		o = &onceRun{done: make(chan struct{})}
		b.onces[t] = o
	}
	if lead && o.leader == "" {
		o.leader = host
		return o, true
	}
	return o, false
}

// publish hands the leader's outcome to the hosts waiting for it.
func (o *onceRun) publish(r *hostRun, t *playbooks.Task, res map[string]any, err error) {
	o.res, o.err = res, err
	o.facts = r.stopCapture()
	o.pending = t.Register != "" && r.isPendingVar(t.Register)
	close(o.done)
}

// followOnce gives the host the result of the batch's run of t.
func (e *Engine) followOnce(play *playbooks.Play, r *hostRun, t *playbooks.Task, o *onceRun, notified map[string]bool) error {
	<-o.done // the leader is in the same batch and publishes however it ends
	if o.err != nil {
		return e.fail(play, r, t, nil, fmt.Errorf("run_once task failed on %s: %w", o.leader, o.err))
	}
	for k, v := range o.facts {
		r.setVar(k, v)
	}
	if t.Register != "" && o.res != nil {
		r.setVar(t.Register, maps.Clone(o.res))
		if o.pending {
			r.markPendingVar(t.Register)
		}
	}
	if changed, _ := o.res["changed"].(bool); changed {
		for _, n := range t.Notify {
			notified[n] = true
		}
	}
	return nil
}

// followBypass waits for the batch's run of a task that bypasses the host
// loop (add_host) and takes nothing from it: no result, no facts, no
// handlers, as ansible-core gives them to the first host only. Its failure
// stops the host, as ansible-core's linear strategy makes such a task's
// errors fatal for the play.
func (e *Engine) followBypass(play *playbooks.Play, r *hostRun, t *playbooks.Task, o *onceRun) error {
	<-o.done
	if o.err != nil {
		return e.fail(play, r, t, nil, fmt.Errorf("%s failed on %s: %w", t.Module, o.leader, o.err))
	}
	return nil
}

// startCapture and stopCapture collect the facts a run_once task sets on
// its leader, to hand them to the rest of the batch.
func (r *hostRun) startCapture() {
	r.mu.Lock()
	r.captured = map[string]any{}
	r.mu.Unlock()
}

func (r *hostRun) stopCapture() map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.captured
	r.captured = nil
	return out
}

// capture keeps facts set while a capture is on.
func (r *hostRun) capture(facts map[string]any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.captured != nil {
		maps.Copy(r.captured, facts)
	}
}
