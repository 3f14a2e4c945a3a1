package engine

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-multierror"
	"golang.org/x/sync/semaphore"

	"github.com/gpuctl/gpuctl/inventory"
	"github.com/gpuctl/gpuctl/playbooks"
)

// ErrPlayStopped is wrapped when a batch stopped the play: a task failed
// with any_errors_fatal, more than max_fail_percentage of the batch
// failed, or every host of the batch failed. No later batch or play runs.
var ErrPlayStopped = errors.New("play stopped")

// batch is one serial batch of a play: its hosts move through the play
// together under the play's strategy.
type batch struct {
	e      *Engine
	play   *playbooks.Play
	hosts  []*inventory.Host
	order  []string // host names in inventory order: the first leads run_once
	tasks  *taskOrder
	gate   gate
	mu     sync.Mutex
	failed int
	stop   error
	// throttles hold one semaphore per throttled task; onces one run per
	// run_once task.
	throttles map[*playbooks.Task]*semaphore.Weighted
	onces     map[*playbooks.Task]*onceRun
}

func (e *Engine) newBatch(play *playbooks.Play, hosts []*inventory.Host) *batch {
	b := &batch{e: e, play: play, hosts: hosts, order: names(hosts), tasks: newTaskOrder(play),
		throttles: map[*playbooks.Task]*semaphore.Weighted{}, onces: map[*playbooks.Task]*onceRun{}}
	b.gate = newGate(play, b)
	return b
}

// runBatches runs the play batch by batch (serial); a batch that stops
// the play ends it.
func (e *Engine) runBatches(ctx context.Context, play *playbooks.Play, hosts []*inventory.Host, recap *Recap) error {
	var errs *multierror.Error
	for _, batch := range batches(hosts, play.Serial) {
		err := e.runBatch(ctx, play, batch, recap)
		if err != nil {
			errs = multierror.Append(errs, err)
		}
		if errors.Is(err, ErrPlayStopped) || ctx.Err() != nil {
			break
		}
	}
	if errs != nil {
		errs.ErrorFormat = listErrors
	}
	return errs.ErrorOrNil()
}

// runBatch runs the play on every host of the batch and returns their
// failures; it wraps ErrPlayStopped when the batch stopped the play.
func (e *Engine) runBatch(ctx context.Context, play *playbooks.Play, hosts []*inventory.Host, recap *Recap) error {
	b := e.newBatch(play, hosts)
	e.startBatch(hosts) // magic.go
	e.opt.Reporter.Event(Event{Type: EventBatchStart, Time: time.Now(), Play: play.Name, Hosts: b.order})
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs *multierror.Error
	)
	for _, h := range hosts {
		wg.Go(func() {
			r, err := e.runHost(ctx, b, h, recap.Hosts[h.Name])
			e.hostDone(h.Name, err) // magic.go
			b.finish(h.Name, err, r != nil && r.fatal)
			if err != nil && !errors.Is(err, ErrPlayStopped) {
				mu.Lock()
				errs = multierror.Append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := b.allFailed(); err != nil {
		e.opt.Reporter.Event(Event{Type: EventWarning, Time: time.Now(), Play: play.Name, Msg: err.Error()})
		errs = multierror.Append(errs, err)
	}
	if errs != nil {
		errs.ErrorFormat = listErrors
	}
	return errs.ErrorOrNil()
}

// finish notes how a host's run of the batch ended and lets the others go
// on without it.
// fatal is any_errors_fatal of the task the host failed on.
func (b *batch) finish(host string, err error, fatal bool) {
	b.mu.Lock()
	if err != nil && !errors.Is(err, ErrPlayStopped) && !errors.Is(err, context.Canceled) {
		b.failed++
		b.checkFailures(host, fatal)
	}
	b.mu.Unlock()
	b.gate.leave(host)
}

// checkFailures stops the batch by the play's rules; mu is held.
func (b *batch) checkFailures(host string, fatal bool) {
	if b.stop != nil {
		return
	}
	switch mfp := b.play.MaxFailPercentage; {
	case fatal:
		b.stop = fmt.Errorf("%w %q (%s): any_errors_fatal: %s failed", ErrPlayStopped, b.play.Name, b.play.Pos, host)
	case mfp != nil && float64(b.failed)*100 > *mfp*float64(len(b.hosts)):
		b.stop = fmt.Errorf("%w %q (%s): %d of %d hosts of the batch failed, more than max_fail_percentage %g%%",
			ErrPlayStopped, b.play.Name, b.play.Pos, b.failed, len(b.hosts), *mfp)
	}
}

// stopped is the reason the batch stopped, or nil.
func (b *batch) stopped() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stop
}

// allFailed is the batch's stop reason after it ran: the one set while it
// ran, or every host failing, which Ansible also treats as the end of
// the play.
func (b *batch) allFailed() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stop == nil && b.failed > 0 && b.failed == len(b.hosts) {
		b.stop = fmt.Errorf("%w %q (%s): every host of the batch (%d) failed", ErrPlayStopped, b.play.Name, b.play.Pos, len(b.hosts))
	}
	return b.stop
}

// taskDone tells the reporter that every host of the batch is past a task.
func (b *batch) taskDone(title string) {
	b.e.opt.Reporter.Event(Event{Type: EventTaskDone, Time: time.Now(), Play: b.play.Name, Task: title})
}

// throttle is the semaphore of a throttled task, made on first use.
func (b *batch) throttle(t *playbooks.Task, n int) *semaphore.Weighted {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, ok := b.throttles[t]
	if !ok {
		s = semaphore.NewWeighted(int64(n))
		b.throttles[t] = s
	}
	return s
}

// batches splits hosts by a play's serial keyword as Ansible does: a
// number of hosts, or a percentage of all the play's hosts (rounded down,
// at least one), or a list of either whose last entry repeats; 0 or none
// is one batch.
func batches(hosts []*inventory.Host, serial []string) [][]*inventory.Host {
	total := len(hosts)
	var out [][]*inventory.Host
	for i := 0; len(hosts) > 0; i++ {
		n := total
		if len(serial) > 0 {
			n = batchSize(serial[min(i, len(serial)-1)], total)
		}
		if n <= 0 || n > len(hosts) {
			n = len(hosts)
		}
		out = append(out, hosts[:n])
		hosts = hosts[n:]
	}
	return out
}

func batchSize(spec string, total int) int {
	if p, ok := strings.CutSuffix(spec, "%"); ok {
		pct, _ := strconv.Atoi(p) // the loader checked it
		return max(total*pct/100, 1)
	}
	n, _ := strconv.Atoi(spec)
	return n
}
