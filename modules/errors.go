package modules

import "fmt"

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
