package engine

import (
	"context"
	"fmt"
	"maps"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/playbooks"
)

// withEnvironment merges the environment of play, blocks, roles and task
// (task wins) and gives it to every command the task runs. Each layer is a
// mapping or an expression giving one ("{{ proxy_env | default({}) }}").
func (e *Engine) withEnvironment(c conn.Conn, play *playbooks.Play, sc *scope, t *playbooks.Task, vars map[string]any) (conn.Conn, error) {
	layers := []any{play.Environment}
	if sc != nil {
		layers = append(layers, sc.environment...)
	}
	layers = append(layers, t.Environment)
	env := map[string]string{}
	for _, l := range layers {
		if l == nil {
			continue
		}
		v, err := e.tpl.RenderValue(l, vars)
		if err != nil {
			return nil, fmt.Errorf("environment: %w", err)
		}
		if s, ok := v.(string); ok && s == "" {
			continue
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("environment: expected a mapping, got %T", v)
		}
		for k, val := range m {
			env[k] = fmt.Sprint(val)
		}
	}
	if len(env) == 0 {
		return c, nil
	}
	return &envConn{Conn: c, env: env}, nil
}

// envConn adds the task's environment to every command; variables a
// module sets itself win.
type envConn struct {
	conn.Conn
	env map[string]string
}

func (c *envConn) Run(ctx context.Context, cmd string, opts ...conn.ExecOption) (conn.Result, error) {
	env := maps.Clone(c.env)
	maps.Copy(env, conn.NewExecConfig(opts).Env)
	return c.Conn.Run(ctx, cmd, append(opts, conn.Env(env))...)
}

func (c *envConn) String() string {
	if s, ok := c.Conn.(fmt.Stringer); ok {
		return s.String()
	}
	return "host"
}
