package engine

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
)

// recordIgnoredUnreachable records a task that found its host unreachable
// under ignore_unreachable. As ansible-core 2.14 does, the host stays in
// play and the task counts as ignored, not unreachable (ansible-core also
// counts it ok, as it does an ignored failure, which gpuctl's recap does
// not); the registered result says unreachable. The next task dials the
// host again, as ansible-core connects per task.
func (tr *taskRun) recordIgnoredUnreachable(o outcome, res map[string]any) (map[string]any, error) {
	e, r, t := tr.e, tr.host, tr.task
	msg := e.redact(o.err.Error())
	res["unreachable"], res["failed"], res["changed"], res["msg"] = true, false, false, msg
	r.redial = true
	r.counts.add(StatusIgnored)
	e.emitResult(tr.play, t, r.inv.Name, StatusIgnored, "host unreachable, ignored (ignore_unreachable): "+msg, nil, o.dur, tr.item)
	if !tr.looped {
		e.register(r, t, res)
	}
	return res, nil
}

// redial connects again to a host a task found unreachable before, when
// ignore_unreachable kept it in play. ansible-core connects lazily, when a
// module first runs something on the host, so a task that never does
// (set_fact, debug, a copy delegated to localhost) goes on while the host
// is down: when the dial fails the host's transport becomes deadConn,
// whose every use is the unreachable error, and the next task dials again.
func (e *Engine) redial(ctx context.Context, r *hostRun) {
	if !r.redial || r.reconnect == nil {
		return
	}
	c, err := r.reconnect(ctx)
	if err != nil {
		if !errors.Is(err, conn.ErrUnreachable) {
			err = fmt.Errorf("%w: %w", conn.ErrUnreachable, err)
		}
		c = deadConn{err}
	} else {
		r.redial, r.probed = false, false
	}
	if old := r.base; old != nil && old != c {
		old.Close()
	}
	r.base = c
	r.cache.Invalidate()
}

// hostless are the modules ansible-core runs on the controller alone
// (action plugins that never connect): they run while the host is down.
var hostless = map[string]bool{
	"debug": true, "assert": true, "fail": true, "set_fact": true, "set_stats": true,
	"include_vars": true, "pause": true, "add_host": true, "group_by": true, "meta": true,
}

// hostDown is the outcome of a task that needs a host whose transport is
// a deadConn: unreachable, whether or not the module would have used the
// connection (a command under --check does not), as ansible-core connects
// for every such task. Delegated tasks reach another host.
func (tr *taskRun) hostDown() *outcome {
	d, dead := tr.host.base.(deadConn)
	if !dead || tr.task.DelegateTo != "" || hostless[modules.Canonical(tr.task.Module)] {
		return nil
	}
	return &outcome{status: StatusUnreachable, err: d.err}
}

// deadConn is the transport of a host that could not be dialled again.
type deadConn struct{ err error }

func (d deadConn) Run(context.Context, string, ...conn.ExecOption) (conn.Result, error) {
	return conn.Result{}, d.err
}
func (d deadConn) ReadFile(context.Context, string) ([]byte, error)    { return nil, d.err }
func (d deadConn) Stat(context.Context, string) (conn.FileInfo, error) { return conn.FileInfo{}, d.err }
func (d deadConn) WriteFile(context.Context, string, []byte, conn.FileAttrs) error {
	return d.err
}
func (d deadConn) Dial(context.Context, string, string) (net.Conn, error) { return nil, d.err }
func (d deadConn) Close() error                                           { return nil }

var _ conn.Conn = deadConn{}
