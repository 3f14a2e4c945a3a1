package engine

import (
	"fmt"
	"strconv"

	"github.com/gpuctl/gpuctl/playbooks"
	"github.com/gpuctl/gpuctl/template"
)

// renderKeywords renders the task's templated keywords (retries: "{{ n }}")
// with the host's variables into the typed fields, on a copy of the task
// that the rest of this run sees. As in Ansible, it runs after when: a
// skipped task may name variables that are not defined.
func (tr *taskRun) renderKeywords() error {
	t, err := tr.e.keywordsFor(tr.task, tr.vars)
	if err != nil {
		return err
	}
	tr.task = t
	return nil
}

// keywordsFor returns t with its templated keywords rendered with vars (t
// itself when it has none).
func (e *Engine) keywordsFor(t *playbooks.Task, vars map[string]any) (*playbooks.Task, error) {
	if len(t.Keywords) == 0 {
		return t, nil
	}
	c := *t
	for k, src := range t.Keywords {
		v, err := e.tpl.Render(src, vars)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		switch k {
		case "retries", "delay":
			n, err := strconv.Atoi(fmt.Sprint(v))
			if err != nil {
				return nil, fmt.Errorf("%s: %q is not a number", k, fmt.Sprint(v))
			}
			if k == "retries" {
				c.Retries = n
			} else {
				c.Delay = n
			}
		case "become":
			b := template.Truthy(v)
			c.Become = &b
		case "become_user":
			c.BecomeUser = fmt.Sprint(v)
		case "no_log":
			c.NoLog = template.Truthy(v)
		case "ignore_errors":
			c.IgnoreErrors = template.Truthy(v)
		case "run_once":
			c.RunOnce = template.Truthy(v)
		}
	}
	return &c, nil
}
