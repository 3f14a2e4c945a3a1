package playbooks

import (
	"fmt"
	"slices"
	"strings"
)

// TaskRefs are the variables a task's templates read, taken from their
// parse trees at load time (template.Engine.Refs), as dotted paths. The
// engine uses them to tell, in check mode, whether a task depends on a
// result only known after apply, and whether it needs hostvars.
type TaskRefs struct {
	When [][]string // one list per condition in When, in order
	Args []string   // arguments, loop, changed_when, failed_when, until, delegate_to
}

// Roots returns the first segment of every path in Args and When.
func (r TaskRefs) Roots() []string {
	var out []string
	add := func(paths []string) {
		for _, p := range paths {
			out = append(out, root(p))
		}
	}
	add(r.Args)
	for _, w := range r.When {
		add(w)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func root(path string) string {
	r, _, _ := strings.Cut(path, ".")
	return r
}

// resolveRefs fills Refs on every task of the playbook.
func (l *Loader) resolveRefs(pb *Playbook) error {
	for _, p := range pb.Plays {
		if err := l.resolveTaskRefs(slices.Concat(p.AllTasks(), p.Handlers)); err != nil {
			return err
		}
	}
	return nil
}

// resolveTaskRefs fills Refs on tasks and every task inside them.
func (l *Loader) resolveTaskRefs(ts []*Task) error {
	for _, t := range ts {
		if err := l.taskRefs(t); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrInvalid, t.Where(), err)
		}
		for _, sub := range [][]*Task{t.Block, t.Rescue, t.Always, t.Include} {
			if err := l.resolveTaskRefs(sub); err != nil {
				return err
			}
		}
	}
	return nil
}

func (l *Loader) taskRefs(t *Task) error {
	t.Refs = TaskRefs{When: make([][]string, len(t.When))}
	for i, cond := range t.When {
		refs, err := l.tpl.ExprRefs(cond)
		if err != nil {
			return fmt.Errorf("when: %w", err)
		}
		t.Refs.When[i] = refs
	}
	var args []string
	var walkErr error
	keywords := make([]any, 0, len(t.Keywords))
	for _, k := range t.Keywords {
		keywords = append(keywords, k)
	}
	walkStrings([]any{t.Args, t.Loop, t.DelegateTo, keywords}, func(s string) {
		refs, err := l.tpl.Refs(s)
		if err != nil && walkErr == nil {
			walkErr = err
		}
		args = append(args, refs...)
	})
	if walkErr != nil {
		return walkErr
	}
	for _, cond := range exprArgs(t) {
		// The module reports a parse error with its own context when it runs.
		if refs, err := l.tpl.ExprRefs(cond); err == nil {
			args = append(args, refs...)
		}
	}
	for _, cond := range slices.Concat(t.ChangedWhen, t.FailedWhen, t.Until) {
		refs, err := l.tpl.ExprRefs(cond)
		if err != nil {
			return err
		}
		args = append(args, refs...)
	}
	slices.Sort(args)
	t.Refs.Args = slices.Compact(args)
	return nil
}

// exprArgs are the arguments a module evaluates as bare expressions (no
// braces), so the template walk above does not see what they read: an
// assert on a result only known after apply must be unknown too.
func exprArgs(t *Task) []string {
	var names []string
	switch t.Module {
	case "assert":
		names = []string{"that"}
	case "debug":
		names = []string{"var"}
	default:
		return nil
	}
	var out []string
	for _, n := range names {
		switch v := t.Args[n].(type) {
		case string:
			if !strings.Contains(v, "{{") {
				out = append(out, v)
			}
		case []any:
			for _, e := range v {
				if s, ok := e.(string); ok && !strings.Contains(s, "{{") {
					out = append(out, s)
				}
			}
		}
	}
	return out
}
