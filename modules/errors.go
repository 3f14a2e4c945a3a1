package modules

import (
	"context"
	"errors"
	"fmt"

	"github.com/gpuctl/gpuctl/plan"
)

// NotYetError is what Check returns when it cannot measure the host because
// something an earlier task would do has not happened yet (a package not
// installed, a kubeconfig not written). Under --check the engine reports the
// task as "known after apply"; in a real run the prerequisite should exist by
// then, so the engine fails the task with the reason. Modules return it
// instead of asking whether the run is in check mode.
type NotYetError struct {
	Reason string // says what is missing, and includes Err's text
	Err    error  // the underlying measurement error, if any
}

func (e *NotYetError) Error() string { return e.Reason }

func (e *NotYetError) Unwrap() error { return e.Err }

// NotYet returns a NotYetError with a formatted reason; a %w verb wraps the
// underlying error so errors.Is still finds it.
func NotYet(format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return &NotYetError{Reason: err.Error(), Err: unwrapOne(err)}
}

func unwrapOne(err error) error {
	if u, ok := err.(interface{ Unwrap() error }); ok {
		return u.Unwrap()
	}
	return nil
}

// CheckOnly runs m's Check as the engine does under --check: a NotYetError
// becomes a diff that is known after apply instead of a failure. Test
// harnesses use it to see what a dry run reports.
func CheckOnly(ctx context.Context, m Module, h Host) (plan.Diff, error) {
	d, err := m.Check(ctx, h)
	if ny := (*NotYetError)(nil); errors.As(err, &ny) {
		return plan.Diff{Unknown: ny.Reason}, nil
	}
	return d, err
}
