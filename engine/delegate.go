package engine

import (
	"context"
	"fmt"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/playbooks"
)

// delegateConn is the connection of the host a task is delegated to: the
// task keeps the original host's variables and runs over the delegate's
// transport (its own ansible_host, user, key). localhost outside the
// inventory is the controller, as in Ansible.
func (e *Engine) delegateConn(ctx context.Context, play *playbooks.Play, r *hostRun, target string) (conn.Conn, error) {
	if target == r.inv.Name {
		return r.base, nil
	}
	h, ok := e.inv.Host(target)
	if !ok {
		if target == "localhost" || target == "127.0.0.1" {
			if e.opt.Local == nil {
				return nil, fmt.Errorf("delegate_to %s: local connection unavailable", target)
			}
			return e.opt.Local, nil
		}
		return nil, fmt.Errorf("delegate_to %q: no such host in the inventory", target)
	}
	d, err := e.hostRunFor(ctx, play, h)
	if err != nil {
		return nil, fmt.Errorf("delegate_to %s: %w", target, err)
	}
	return d.base, nil
}

// factTarget is the host whose variables a task's facts go to: the
// delegate with delegate_facts, else the host itself.
func (e *Engine) factTarget(r *hostRun, t *playbooks.Task, vars map[string]any) *hostRun {
	if !t.DelegateFacts || t.DelegateTo == "" {
		return r
	}
	target, err := e.tpl.RenderString(t.DelegateTo, vars)
	if err != nil {
		return r
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if d, ok := e.hosts[target]; ok {
		return d
	}
	return r
}
