package cli

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/gpuctl/gpuctl/inventory"
	"github.com/gpuctl/gpuctl/playbooks"
)

// list prints what ansible-playbook prints for --list-hosts, --list-tasks,
// --list-tags and --syntax-check (ansible/cli/playbook.py in ansible-core
// 2.14), from the loaded playbook and inventory: no task runs and no host
// is contacted. Complete has already loaded both, so a broken playbook or
// inventory is reported (exit 1) before this prints anything.
func (o *runOptions) list() error {
	w := o.io.Out
	fmt.Fprintf(w, "\nplaybook: %s\n", o.playbook)
	if o.pbFlags.syntaxCheck {
		return nil // ansible-playbook lists nothing with --syntax-check
	}
	for i, play := range o.pb.Plays {
		var b strings.Builder
		fmt.Fprintf(&b, "\n  play #%d (%s): %s\tTAGS: [%s]", i+1, play.Hosts, firstOf(play.Name, play.Hosts), strings.Join(play.Tags, ","))
		if o.pbFlags.listHosts {
			hosts, err := o.listedHosts(play)
			if err != nil {
				return &ExitError{Code: 1, Err: fmt.Errorf("play %q (%s): %w", play.Name, play.Pos, err)}
			}
			fmt.Fprintf(&b, "\n    pattern: ['%s']\n    hosts (%d):", play.Hosts, len(hosts))
			for _, h := range hosts {
				fmt.Fprintf(&b, "\n      %s", h.Name)
			}
		}
		fmt.Fprintln(w, b.String())
		if o.pbFlags.listTasks || o.pbFlags.listTags {
			writeTasks(w, play, o.tags, o.skipTags, o.pbFlags.listTasks, o.pbFlags.listTags)
		}
	}
	return nil
}

// listedHosts are the play's hosts after --limit, in inventory order
// (ansible-playbook prints a Python set, in no fixed order). Patterns that
// match nothing are Ansible's warnings.
func (o *runOptions) listedHosts(play *playbooks.Play) ([]*inventory.Host, error) {
	hosts, warnings, err := o.inv.Select(play.Hosts)
	if err != nil {
		return nil, err
	}
	for _, w := range warnings {
		fmt.Fprintf(o.io.Err, "[WARNING]: %s\n", w)
	}
	if o.limit == "" {
		return hosts, nil
	}
	limited, _, err := o.inv.Select(o.limit)
	if err != nil {
		return nil, fmt.Errorf("--limit: %w", err)
	}
	return slices.DeleteFunc(hosts, func(h *inventory.Host) bool {
		return !slices.ContainsFunc(limited, func(l *inventory.Host) bool { return l.Name == h.Name })
	}), nil
}

// writeTasks prints a play's tasks (--list-tasks) and their tags
// (--list-tags) as ansible-playbook does: the tasks --tags and --skip-tags
// select, pre_tasks, roles, tasks and post_tasks in order, imports and
// roles expanded, include_tasks and include_role as one line each (they
// load at run time), only the block part of a block (ansible-playbook
// skips rescue and always), no handlers.
func writeTasks(w io.Writer, play *playbooks.Play, only, skip []string, tasks, tags bool) {
	l := &taskLister{only: only, skip: skip, playTags: play.Tags}
	l.walk(play.AllTasks(), nil, "")
	var b strings.Builder
	if tasks {
		b.WriteString("    tasks:\n")
		for _, line := range l.lines {
			b.WriteString(line)
		}
	}
	if tags {
		fmt.Fprintf(&b, "      TASK TAGS: [%s]\n", strings.Join(sortedTags(play.Tags, l.tags), ", "))
	}
	fmt.Fprintln(w, strings.TrimSuffix(b.String(), "\n"))
}

type taskLister struct {
	only, skip []string
	playTags   []string
	lines      []string
	tags       []string // of the selected tasks
}

// walk lists tasks under inherited tags (of enclosing blocks, imports and
// roles) in role (the innermost role's name, "" outside roles).
func (l *taskLister) walk(tasks []*playbooks.Task, inherited []string, role string) {
	for _, t := range tasks {
		tags := slices.Concat(inherited, t.Tags)
		switch {
		case t.Block != nil:
			l.walk(t.Block, tags, role)
			continue
		case t.Include != nil && !t.Dynamic:
			inner := role
			if t.Role != nil {
				inner = t.Role.Name
			}
			l.walk(t.Include, tags, inner)
			continue
		}
		if !tagsSelected(slices.Concat(l.playTags, tags), l.only, l.skip) {
			continue
		}
		l.tags = append(l.tags, tags...)
		name := taskAction(t)
		if t.Name != "" {
			name = t.Name
			if role != "" {
				name = role + " : " + name
			}
		}
		l.lines = append(l.lines, fmt.Sprintf("      %s\tTAGS: [%s]\n", name, strings.Join(sortedTags(l.playTags, tags), ", ")))
	}
}

// taskAction is what ansible-playbook prints for a task without a name:
// its action. gpuctl keeps the module's short name, so a task written
// ansible.builtin.debug prints as debug (Ansible prints it as written).
func taskAction(t *playbooks.Task) string {
	switch {
	case t.Module != "":
		return t.Module
	case t.IncludeRole != nil || t.Role != nil:
		return "include_role"
	case t.Include != nil || t.IncludeFile != "":
		return "include_tasks"
	}
	return "meta"
}

// tagsSelected is ansible-core 2.14's Taggable.evaluate_tags: only is
// --tags (all when empty), skip is --skip-tags.
func tagsSelected(tags, only, skip []string) bool {
	untagged := len(tags) == 0
	if untagged {
		tags = []string{"untagged"}
	}
	if len(only) == 0 {
		only = []string{"all"}
	}
	has := func(set []string, tag string) bool { return slices.Contains(set, tag) }
	meets := func(a, b []string) bool { return slices.ContainsFunc(a, func(x string) bool { return has(b, x) }) }
	run := false
	switch {
	case has(tags, "always"):
		run = true
	case has(only, "all") && !has(tags, "never"):
		run = true
	case meets(tags, only):
		run = true
	case has(only, "tagged") && !untagged && !has(tags, "never"):
		run = true
	}
	if run && len(skip) > 0 {
		switch {
		case has(skip, "all"):
			if !has(tags, "always") || has(skip, "always") {
				run = false
			}
		case meets(tags, skip):
			run = false
		case has(skip, "tagged") && !untagged:
			run = false
		}
	}
	return run
}

// sortedTags is the sorted union of tag lists, as ansible-playbook prints
// them.
func sortedTags(lists ...[]string) []string {
	out := slices.Concat(lists...)
	slices.Sort(out)
	return slices.Compact(out)
}
