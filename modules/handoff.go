package modules

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/gpuctl/gpuctl/plan"
)

// ErrNoCheckState is what Apply returns when the diff it was given does not
// carry the plan its own Check made: the engine always calls Check first,
// so this is a programming error, and guessing a plan in Apply would change
// a host nobody measured.
var ErrNoCheckState = errors.New("Apply called without this module's Check")

// StateOf is the one Check→Apply handoff: Check puts its plan in
// plan.Diff.State, Apply takes it back with StateOf. A missing plan, a plan
// of another type or a nil pointer is refused with ErrNoCheckState, naming the
// host and module.
func StateOf[T any](h Host, module string, d plan.Diff) (T, error) {
	var zero T
	st, ok := d.State.(T)
	if !ok {
		if d.State == nil {
			return zero, fmt.Errorf("host %s: %s: %w (the diff carries no plan, want %T)", h.Name(), module, ErrNoCheckState, zero)
		}
		return zero, fmt.Errorf("host %s: %s: %w (the diff carries %T, want %T)", h.Name(), module, ErrNoCheckState, d.State, zero)
	}
	if isNil(any(st)) {
		return zero, fmt.Errorf("host %s: %s: %w (the diff carries a nil %T)", h.Name(), module, ErrNoCheckState, zero)
	}
	return st, nil
}

// isNil reports a nil pointer plan, which would pass the type assertion
// and panic in Apply. Nil slices and maps are valid plans (an empty file's
// content).
func isNil(v any) bool {
	if v == nil {
		return true
	}
	r := reflect.ValueOf(v)
	return r.Kind() == reflect.Pointer && r.IsNil()
}
