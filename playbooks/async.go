package playbooks

import (
	"slices"

	"gopkg.in/yaml.v3"

	"github.com/gpuctl/gpuctl/modules"
)

// asyncTaskKey loads the literal values of the task keywords async, poll
// and ignore_unreachable (templated ones are kept in Task.Keywords); it
// reports whether k is one of them.
func (l *Loader) asyncTaskKey(file string, k, v *yaml.Node, t *Task) (bool, error) {
	var err error
	switch k.Value {
	case "async":
		t.Async, err = l.seconds(file, k, v)
	case "poll":
		var n int
		if n, err = l.seconds(file, k, v); err == nil {
			t.Poll = &n
		}
	case "ignore_unreachable":
		t.IgnoreUnreachable, err = l.boolPtr(file, v)
	default:
		return false, nil
	}
	return true, err
}

func (l *Loader) seconds(file string, k, v *yaml.Node) (int, error) {
	n, err := l.intVal(file, v)
	if err == nil && n < 0 {
		err = l.errf(file, v, "%s must be 0 or more seconds, got %d", k.Value, n)
	}
	return n, err
}

// ansibleRefusesAsync are the modules ansible-core 2.14 runs through an
// action plugin without async support: it fails them with "async is not
// supported for this task".
var ansibleRefusesAsync = []string{"script", "raw", "copy", "template", "fetch", "unarchive", "assemble", "debug",
	"set_fact", "set_stats", "assert", "fail", "pause", "wait_for_connection", "include_vars", "add_host", "group_by",
	"async_status", "meta", "validate_argument_spec"}

// checkAsync refuses, at load, an async task gpuctl cannot run as a job
// on the host, rather than running it in the foreground in silence: a
// block or include (async is a task keyword in ansible-core), and a module
// that is not one command on the host (modules.Detacher). at is the async
// keyword's node; nil when the task has none.
func (l *Loader) checkAsync(file string, at *yaml.Node, t *Task) error {
	if at == nil || (t.Async == 0 && t.Keywords["async"] == "") {
		return nil // async: 0 is a task gpuctl waits for as usual
	}
	if t.Spec == nil {
		return l.errf(file, at, "task %q: async is a keyword of a task that runs a module; a block or include takes none (ansible-core: not a valid attribute)", t.Title())
	}
	if _, ok := t.Spec.New().(modules.Detacher); ok {
		return nil
	}
	if slices.Contains(ansibleRefusesAsync, t.Spec.Name) {
		return l.errf(file, at, "task %q: %s cannot run async; ansible-core refuses it too (\"async is not supported for this task\"): drop async and poll", t.Title(), t.Spec.Name)
	}
	return l.errf(file, at, "task %q: %s cannot run async in gpuctl: only command and shell, whose work on the host is one command, "+
		"run as jobs detached from the connection; %s runs as steps driven from the controller, which cannot go on "+
		"without it. Drop async and poll to run it in the foreground, or run the work with command or shell", t.Title(), t.Spec.Name, t.Spec.Name)
}

// inheritIgnoreUnreachable gives the play's ignore_unreachable to its
// top-level tasks that set none; blocks, includes and roles pass it on to
// the tasks inside them when the play runs, as they pass their own.
func inheritIgnoreUnreachable(p *Play) {
	if p.IgnoreUnreachable == nil {
		return
	}
	for _, list := range [][]*Task{p.PreTasks, p.Roles, p.Tasks, p.PostTasks, p.Handlers} {
		for _, t := range list {
			if t.IgnoreUnreachable == nil && t.Keywords["ignore_unreachable"] == "" {
				v := *p.IgnoreUnreachable
				t.IgnoreUnreachable = &v
			}
		}
	}
}
