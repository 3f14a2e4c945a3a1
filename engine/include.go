package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/gpuctl/gpuctl/playbooks"
	"github.com/gpuctl/gpuctl/template"
)

// runInclude runs an include, import or role wrapper. include_tasks and
// include_role decide their when once per loop item, for the include
// itself, and the item (or loop_var) is visible to every task inside; a
// path depending on host variables is loaded here, per host.
func (e *Engine) runInclude(ctx context.Context, play *playbooks.Play, r *hostRun, t *playbooks.Task, sc *scope, notified map[string]bool) error {
	if !t.Dynamic && t.Loop == nil && t.IncludeFile == "" && t.IncludeRole == nil {
		return e.runAll(ctx, play, r, t.Include, sc.child(t), notified)
	}
	if err := e.loadVarsFiles(play, r, sc, t); err != nil { // varsfiles.go
		return e.fail(play, r, t, nil, err)
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
	for i, item := range items {
		iv := maps.Clone(vars)
		if t.Loop != nil {
			if err := loopPause(ctx, t, i); err != nil { // loopcontrol.go
				return err
			}
			iv[loopVar] = item
			loopItemVars(t, iv, loopVar, i, items)
		}
		ok, err := e.allTrue(t.When, iv)
		if err != nil {
			return e.fail(play, r, t, item, fmt.Errorf("when: %w", err))
		}
		if !ok {
			e.recordOnly(play, r, t, item, outcome{status: StatusSkipped, msg: "condition false"})
			continue
		}
		target := t
		if t.IncludeRole != nil {
			if target, err = e.loadRole(play, r, t, iv); err != nil {
				return e.fail(play, r, t, item, err)
			}
			if r.batch != nil {
				r.batch.tasks.place(t, target.Include)
			}
		}
		inner := sc.child(target)
		inner.when = inner.when[:len(inner.when)-len(t.When)]
		inner.whenRefs = inner.whenRefs[:len(inner.whenRefs)-len(t.When)]
		if t.Loop != nil {
			inner.params = with(inner.params, map[string]any{loopVar: item})
			// the included tasks see index_var and ansible_loop, not
			// ansible_loop_var or ansible_index_var (ansible-core 2.14)
			for _, k := range []string{"ansible_loop", t.LoopControl.IndexVar} {
				if v, ok := iv[k]; ok && k != "" {
					inner.params[k] = v
				}
			}
		}
		tasks := target.Include
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
		if target.Public && target.Role != nil {
			r.addPublic(play, target) // roles.go
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

// loadRole loads an include_role whose name depends on host variables, for
// this host: the task it returns is t with the role in it. The role's
// handlers join the host's, so its tasks can notify them.
func (e *Engine) loadRole(play *playbooks.Play, r *hostRun, t *playbooks.Task, vars map[string]any) (*playbooks.Task, error) {
	name, err := e.tpl.RenderString(t.IncludeRole.Name, vars)
	if err != nil {
		return nil, fmt.Errorf("include_role name: %w", err)
	}
	loaded, handlers, err := playbooks.LoadRole(t.IncludeRole, name, t.Vars)
	if err != nil {
		return nil, err
	}
	w := *t
	w.Role, w.Include, w.IncludeRole = loaded.Role, loaded.Include, nil
	w.Tags = append(slices.Clone(t.Tags), loaded.Tags...) // apply: tags
	if loaded.Become != nil {
		w.Become = loaded.Become
	}
	if loaded.BecomeUser != "" {
		w.BecomeUser = loaded.BecomeUser
	}
	if loaded.Environment != nil {
		w.Environment = loaded.Environment
	}
	if added := r.addHandlers(handlers); len(added) > 0 && r.batch != nil {
		// after the play's own handlers, in the order the role lists them
		r.batch.tasks.placeUnder([]int{len(play.Handlers)}, added)
	}
	return &w, nil
}
