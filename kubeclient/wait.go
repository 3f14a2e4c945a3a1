package kubeclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Condition reports whether a wait is over, and a one-line progress
// description ("2/3 pods ready") shown while it is not.
type Condition func(ctx context.Context) (done bool, progress string, err error)

// Explainer says why a wait did not finish: events, container waiting
// reasons, node conditions. It runs once, on timeout.
type Explainer func(ctx context.Context) string

// WaitOptions configure Wait.
type WaitOptions struct {
	What     string        // "node/gpu-1 Ready", for messages
	Timeout  time.Duration // whole wait
	Interval time.Duration // between polls; default 1s
	Log      *slog.Logger  // progress goes here; nil discards
	Explain  Explainer
}

// TimeoutError is a wait that ran out of time; Why holds the explanation.
type TimeoutError struct {
	What     string
	After    time.Duration
	Progress string
	Why      string
}

func (e *TimeoutError) Error() string {
	msg := fmt.Sprintf("timed out after %v waiting for %s", e.After.Round(time.Second), e.What)
	if e.Progress != "" {
		msg += " (last seen: " + e.Progress + ")"
	}
	if e.Why != "" {
		msg += "\n" + e.Why
	}
	return msg
}

// ErrTimeout matches every TimeoutError with errors.Is.
var ErrTimeout = errors.New("timed out")

func (e *TimeoutError) Is(target error) bool { return target == ErrTimeout }

// progressEvery is how often an unchanged progress line is repeated, so a
// long wait never looks hung.
const progressEvery = 10 * time.Second

// Wait polls cond until it is done, fails, the timeout passes or ctx ends.
// Progress is logged when it changes and every 10 s otherwise. Transient
// API errors count as "not yet" and show in the progress line.
func Wait(ctx context.Context, cond Condition, o WaitOptions) error {
	if o.Interval == 0 {
		o.Interval = time.Second
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	start := time.Now()
	deadline := start.Add(o.Timeout)
	var last string
	var lastLogged time.Time
	for {
		done, progress, err := cond(ctx)
		if err != nil {
			var unreach *UnreachableError
			if !errors.As(err, &unreach) && ctx.Err() == nil {
				return fmt.Errorf("waiting for %s: %w", o.What, err)
			}
			progress = "error: " + err.Error()
		}
		if done {
			log.Info("wait done", "for", o.What, "after", time.Since(start).Round(100*time.Millisecond).String())
			return nil
		}
		if progress != last || time.Since(lastLogged) >= progressEvery {
			log.Info("waiting", "for", o.What, "progress", progress, "elapsed", time.Since(start).Round(time.Second).String())
			last, lastLogged = progress, time.Now()
		}
		if ctx.Err() != nil {
			return fmt.Errorf("waiting for %s: %w", o.What, ctx.Err())
		}
		if !time.Now().Before(deadline) {
			te := &TimeoutError{What: o.What, After: time.Since(start), Progress: progress}
			if o.Explain != nil {
				// The caller's context may be nearly spent; explaining is
				// worth a few more seconds.
				ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
				te.Why = o.Explain(ectx)
				cancel()
			}
			return te
		}
		t := time.NewTimer(min(o.Interval, time.Until(deadline)+time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
}
