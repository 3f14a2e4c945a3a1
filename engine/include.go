package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"

	"github.com/gpuctl/gpuctl/playbooks"
	"github.com/gpuctl/gpuctl/template"
)

// runInclude runs an include, import or role wrapper. include_tasks and
// include_role decide their when once per loop item, for the include
// itself, and the item (or loop_var) is visible to every task inside; a
// path depending on host variables is loaded here, per host.
func (e *Engine) runInclude(ctx context.Context, play *playbooks.Play, r *hostRun, t *playbooks.Task, sc *scope, notified map[string]bool) error {
	if !t.Dynamic && t.Loop == nil && t.IncludeFile == "" {
		return e.runAll(ctx, play, r, t.Include, sc.child(t), notified)
	}
	vars := e.taskVars(play, r, sc, t)
	items := []any{nil}
	if t.Loop != nil {
		var err error
		if items, err = e.loopItems(t, vars); err != nil {
			// as for a task (runLeaf): a false when skips an undefined loop
			if ok, werr := e.allTrue(t.When, vars); errors.Is(err, template.ErrUndefined) && werr == nil && !ok {
				e.recordOnly(play, r, t, nil, outcome{status: StatusSkipped, msg: "condition false"})
				return nil
			}
			return e.fail(play, r, t, nil, err)
		}
	}
	loopVar := t.LoopVar
	if loopVar == "" {
		loopVar = "item"
	}
	for _, item := range items {
		iv := maps.Clone(vars)
		inner := sc.child(t)
		inner.when = inner.when[:len(inner.when)-len(t.When)]
		inner.whenRefs = inner.whenRefs[:len(inner.whenRefs)-len(t.When)]
		if t.Loop != nil {
			iv[loopVar] = item
			if inner.vars == nil {
				inner.vars = map[string]any{}
			}
			inner.vars[loopVar] = item
		}
		ok, err := e.allTrue(t.When, iv)
		if err != nil {
			return e.fail(play, r, t, item, fmt.Errorf("when: %w", err))
		}
		if !ok {
			e.recordOnly(play, r, t, item, outcome{status: StatusSkipped, msg: "condition false"})
			continue
		}
		tasks := t.Include
		if t.IncludeFile != "" {
			path, err := e.tpl.RenderString(t.IncludeFile, iv)
			if err != nil {
				return e.fail(play, r, t, item, fmt.Errorf("include_tasks: %w", err))
			}
			if tasks, err = playbooks.LoadTasks(path); err != nil {
				return e.fail(play, r, t, item, err)
			}
			if r.batch != nil {
				r.batch.tasks.place(t, tasks) // order.go: linear runs them in the include's place
			}
		}
		if err := e.runAll(ctx, play, r, tasks, inner, notified); err != nil {
			return err
		}
	}
	return nil
}

func (e *Engine) runAll(ctx context.Context, play *playbooks.Play, r *hostRun, tasks []*playbooks.Task, sc *scope, notified map[string]bool) error {
	for _, sub := range tasks {
		if err := e.runTask(ctx, play, r, sub, sc, notified); err != nil {
			return err
		}
	}
	return nil
}
