package playbooks

import (
	"fmt"
	"slices"
)

// unknownPlugins reports the filters, tests and lookups a task's templates
// use that gpuctl lacks, naming the task and its file:line, before any
// host is contacted (Ansible finds them only when the task runs).
func (l *Loader) unknownPlugins(t *Task) error {
	var err error
	walkStrings([]any{t.Args, t.Loop, t.Vars, t.DelegateTo}, func(s string) {
		if err == nil {
			if e := l.tpl.Unknown(s); e != nil {
				err = fmt.Errorf("template %q: %w", s, e)
			}
		}
	})
	for _, expr := range slices.Concat(t.When, t.ChangedWhen, t.FailedWhen, t.Until) {
		if err == nil {
			if e := l.tpl.UnknownExpr(expr); e != nil {
				err = fmt.Errorf("condition %q: %w", expr, e)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrInvalid, t.Where(), err)
	}
	return nil
}
