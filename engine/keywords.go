package engine

import (
	"fmt"
	"maps"
	"strconv"
	"strings"

	"github.com/gpuctl/gpuctl/playbooks"
	"github.com/gpuctl/gpuctl/template"
)

// renderKeywords renders the task's templated keywords (retries: "{{ n }}")
// with the host's variables into the typed fields, on a copy of the task
// that the rest of this run sees. As in Ansible, it runs after when: a
// skipped task may name variables that are not defined.
func (tr *taskRun) renderKeywords() error {
	t := tr.task
	if tr.scope != nil && len(tr.scope.keywords) > 0 {
		t = inherit(t, tr.scope.keywords)
	}
	t, err := tr.e.keywordsFor(t, tr.vars)
	if err != nil {
		return err
	}
	tr.task = t
	if t.CheckMode != nil {
		tr.check = *t.CheckMode
	}
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
		if s, ok := v.(string); ok && s == e.omitToken() {
			continue // as if the keyword were not there, as in Ansible
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
		case "check_mode":
			b := template.Truthy(v)
			c.CheckMode = &b
		case "delegate_facts":
			c.DelegateFacts = template.Truthy(v)
		case "ignore_unreachable":
			b := template.Truthy(v)
			c.IgnoreUnreachable = &b
		case "async", "poll":
			n, err := strconv.Atoi(strings.TrimSpace(fmt.Sprint(v)))
			if err != nil || n < 0 {
				return nil, fmt.Errorf("%s: %q is not a number of seconds", k, fmt.Sprint(v))
			}
			if k == "async" {
				c.Async = n
			} else {
				c.Poll = &n
			}
		}
	}
	return &c, nil
}

// inheritKeywords records what a block, include or role wrapper t passes
// down to the tasks inside it, as Ansible's blocks do: its templated
// keywords, and ignore_errors, no_log and check_mode when set. become and become_user
// given literally travel in the scope's own fields.
func (s *scope) inheritKeywords(t *playbooks.Task) {
	if len(t.Keywords) == 0 && !t.IgnoreErrors && !t.NoLog && t.CheckMode == nil && t.IgnoreUnreachable == nil {
		return
	}
	s.keywords = maps.Clone(s.keywords)
	if s.keywords == nil {
		s.keywords = map[string]string{}
	}
	maps.Copy(s.keywords, t.Keywords)
	if t.IgnoreErrors {
		s.keywords["ignore_errors"] = "true"
	}
	if t.NoLog {
		s.keywords["no_log"] = "true"
	}
	if t.CheckMode != nil {
		s.keywords["check_mode"] = strconv.FormatBool(*t.CheckMode)
	}
	if t.IgnoreUnreachable != nil {
		s.keywords["ignore_unreachable"] = strconv.FormatBool(*t.IgnoreUnreachable)
	}
	// async and poll belong to the task that names them (ansible-core's
	// NonInheritableFieldAttribute): a role's parameters never reach here.
	delete(s.keywords, "async")
	delete(s.keywords, "poll")
}

// inherit gives t the enclosing keywords it does not set itself.
func inherit(t *playbooks.Task, outer map[string]string) *playbooks.Task {
	c := *t
	c.Keywords = maps.Clone(t.Keywords)
	if c.Keywords == nil {
		c.Keywords = map[string]string{}
	}
	for k, v := range outer {
		if _, own := c.Keywords[k]; own || setLiterally(t, k) {
			continue
		}
		c.Keywords[k] = v
	}
	return &c
}

// setLiterally reports whether t gives keyword k a literal value.
func setLiterally(t *playbooks.Task, k string) bool {
	switch k {
	case "become":
		return t.Become != nil
	case "become_user":
		return t.BecomeUser != ""
	case "retries":
		return t.Retries != 0
	case "delay":
		return t.Delay != 0
	case "ignore_errors":
		return t.IgnoreErrors
	case "no_log":
		return t.NoLog
	case "run_once":
		return t.RunOnce
	case "throttle":
		return t.Throttle != 0
	case "check_mode":
		return t.CheckMode != nil
	case "delegate_facts":
		return t.DelegateFacts
	case "ignore_unreachable":
		return t.IgnoreUnreachable != nil
	case "async":
		return t.Async != 0
	case "poll":
		return t.Poll != nil
	}
	return false
}
