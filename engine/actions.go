package engine

import (
	"context"
	"time"

	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

// action is a module the engine runs itself, because its work is on the
// run rather than on the host: meta (handlers, ending the play),
// include_vars (controller files into host variables), setup (the host's
// facts). They are registered as modules so the loader checks their
// arguments and `gpuctl doc` lists them; their Check and Apply do nothing.
type action interface {
	modules.Module
	// act does the work. The execution goes through judge like a module's
	// (failed_when, register); control, when not nil, stops the host's
	// play without failing it (meta end_host, end_play, end_batch).
	act(ctx context.Context, tr *taskRun, h *taskHost) (ex execution, control error)
}

// runAction runs an action and judges its execution as a module's.
func (tr *taskRun) runAction(ctx context.Context, a action, args map[string]any, h *taskHost) outcome {
	start := time.Now()
	ex, control := a.act(ctx, tr, h)
	ex.dur = time.Since(start)
	if ex.res == nil {
		ex.res = tr.e.result(a, ex.diff, ex.err)
	}
	o := tr.judge(a, args, ex)
	o.control = control
	return o
}

// noWork is the Check and Apply of an action: the engine does its work.
type noWork struct{}

func (noWork) Check(context.Context, modules.Host) (plan.Diff, error) { return plan.Diff{}, nil }
func (noWork) Apply(context.Context, modules.Host, plan.Diff) error   { return nil }
