package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gpuctl/gpuctl/modules"
)

func init() {
	modules.Register(modules.Info{
		Name:    "meta",
		Summary: "Act on the run itself: flush_handlers, end_play, end_host, end_batch, noop, clear_facts, clear_host_errors, reset_connection, refresh_inventory",
		CheckMode: "Acts the same as in a real run (handlers run in check mode, the play ends); " +
			"changes nothing on the host by itself.",
		Example: `- meta: flush_handlers
- meta: end_host
  when: not gpu_present`,
		FreeForm: "free_form",
		New:      func() modules.Module { return &Meta{} },
	})
}

// Meta is ansible.builtin.meta.
type Meta struct {
	noWork
	Action string `yaml:"free_form" required:"true" choices:"noop,flush_handlers,refresh_inventory,clear_facts,clear_host_errors,end_play,end_host,end_batch,reset_connection,role_complete" doc:"what to do"`
	msg    string
}

func (m *Meta) Validate() error { return nil }

func (m *Meta) Message() string { return m.msg }

// errEnded stops a host's play without failing it: the tasks left and the
// handlers notified so far do not run, as in Ansible.
type errEnded struct{ action string }

func (e *errEnded) Error() string { return "meta: " + e.action }

func isEnded(err error) bool {
	var e *errEnded
	return errors.As(err, &e)
}

// endedErr is what a task sees once another host ended the play or batch.
func (e *Engine) endedErr() error {
	if e.play != nil && e.play.stopped() {
		return &errEnded{action: "end_play"}
	}
	return nil
}

func (m *Meta) act(ctx context.Context, tr *taskRun, h *taskHost) (execution, error) {
	e, r := tr.e, tr.host
	switch m.Action {
	case "flush_handlers":
		if b := r.batch; b != nil {
			r.flushAt = b.tasks.key(r.section, tr.task).path
			defer func() { r.flushAt = nil }()
		}
		err := e.runHandlers(ctx, tr.play, r, tr.notified)
		clear(tr.notified) // a flushed notification is spent
		return execution{}, err
	case "end_host":
		m.msg = "ending play for " + r.inv.Name
		return execution{}, &errEnded{action: m.Action}
	case "end_play", "end_batch":
		e.play.mu.Lock()
		if m.Action == "end_play" {
			e.play.ended = true
		} else {
			e.play.batchEnded = true
		}
		e.play.mu.Unlock()
		m.msg = "ending " + m.Action[len("end_"):]
		return execution{}, &errEnded{action: m.Action}
	case "clear_facts":
		// Only this host's: every host of the play runs the task (Ansible
		// runs it once and clears all of them).
		r.mu.Lock()
		r.facts = modules.Facts{}
		r.mu.Unlock()
		r.cache.Invalidate()
	case "clear_host_errors":
		e.play.mu.Lock()
		e.play.clearErrs = true
		e.play.mu.Unlock()
	case "reset_connection":
		// A new session picks up what the old one could not see (a group
		// just added to the user, as with docker).
		if err := h.Reconnect(ctx); err != nil {
			return execution{err: fmt.Errorf("reset_connection: %w", err)}, nil
		}
	case "refresh_inventory":
		m.msg = "refresh_inventory does nothing in gpuctl: the inventory is read once, before the run"
		e.opt.Reporter.Event(Event{Type: EventWarning, Time: time.Now(), Play: tr.play.Name, Host: r.inv.Name, Msg: tr.task.Pos.String() + ": " + m.msg})
	}
	return execution{}, nil
}

var _ action = (*Meta)(nil)
