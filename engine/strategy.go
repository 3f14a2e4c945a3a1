package engine

import (
	"context"
	"sync"

	"github.com/gpuctl/gpuctl/playbooks"
)

// gate decides when a host of a batch may start its next task: at once
// (free), or when every host of the batch has finished the task before
// (linear, Ansible's default).
type gate interface {
	// turn blocks until the host may run the task at key. lead is true for
	// the one host that runs a run_once task for the batch (linear: the
	// first host of the batch among those at the task). The error is the
	// batch's stop reason, or the context's.
	turn(ctx context.Context, host string, key stepKey, title string) (lead bool, err error)
	// leave says the host has no more tasks in this batch.
	leave(host string)
}

func newGate(play *playbooks.Play, b *batch) gate {
	if play.Strategy == playbooks.StrategyFree {
		return freeGate{b}
	}
	return newLockstep(b)
}

// freeGate lets every host run its tasks as fast as it can; only a stop
// of the batch (any_errors_fatal, max_fail_percentage) holds it back.
type freeGate struct{ b *batch }

func (g freeGate) turn(ctx context.Context, host string, key stepKey, title string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	return true, g.b.stopped()
}

func (freeGate) leave(string) {}

// lockstep is Ansible's linear strategy. Each round it waits until every
// host still in the batch is either waiting for its next task or gone,
// then lets the hosts whose next task comes first in the play run it; the
// others wait for a later round. So all hosts finish task N before any
// starts N+1, and a host in a rescue runs it in the rescue's place.
type lockstep struct {
	b        *batch
	mu       sync.Mutex
	active   int                // hosts not yet gone
	running  map[string]bool    // released this round, not back yet
	waiting  map[string]*waiter // hosts waiting, by name
	lastTask string             // the task the round that ended ran
}

type waiter struct {
	key   stepKey
	title string
	ready chan turnResult
}

type turnResult struct {
	lead bool
	err  error
}

func newLockstep(b *batch) *lockstep {
	return &lockstep{b: b, active: len(b.hosts), running: map[string]bool{}, waiting: map[string]*waiter{}}
}

func (g *lockstep) turn(ctx context.Context, host string, key stepKey, title string) (bool, error) {
	w := &waiter{key: key, title: title, ready: make(chan turnResult, 1)}
	g.mu.Lock()
	delete(g.running, host)
	g.waiting[host] = w
	g.advance()
	g.mu.Unlock()
	select {
	case r := <-w.ready:
		return r.lead, r.err
	case <-ctx.Done():
		g.mu.Lock()
		delete(g.waiting, host)
		g.mu.Unlock()
		return false, ctx.Err()
	}
}

func (g *lockstep) leave(host string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.running, host)
	delete(g.waiting, host)
	g.active--
	g.advance()
}

// advance starts the next round once the current one is over. Called with
// mu held.
func (g *lockstep) advance() {
	if len(g.running) > 0 || len(g.waiting) < g.active {
		return
	}
	if g.lastTask != "" {
		g.b.taskDone(g.lastTask)
		g.lastTask = ""
	}
	if len(g.waiting) == 0 {
		return
	}
	if err := g.b.stopped(); err != nil {
		for host, w := range g.waiting {
			w.ready <- turnResult{err: err}
			delete(g.waiting, host)
		}
		return
	}
	var next *waiter
	for _, w := range g.waiting {
		if next == nil || w.key.compare(next.key) < 0 {
			next = w
		}
	}
	g.lastTask = next.title
	lead := true
	for _, host := range g.b.order { // batch order: the first host leads run_once
		w := g.waiting[host]
		if w == nil || w.key.compare(next.key) != 0 {
			continue
		}
		w.ready <- turnResult{lead: lead}
		lead = false
		delete(g.waiting, host)
		g.running[host] = true
	}
}
