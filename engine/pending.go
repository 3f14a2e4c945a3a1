package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/gpuctl/gpuctl/modules"
)

// Check mode cannot judge a task that depends on what an earlier task would
// change: these find such a dependency from structure (the variables a
// task's templates read, the paths a module reads), never from text.

// pendingRef reports which result only known after apply the given
// variable paths (playbooks.TaskRefs) read: a register of this host, or
// through hostvars one of any host.
func (e *Engine) pendingRef(r *hostRun, paths []string) string {
	for _, p := range paths {
		parts := strings.Split(p, ".")
		if r.isPendingVar(parts[0]) {
			return fmt.Sprintf("depends on %q, registered by a task that would change", parts[0])
		}
		if parts[0] != "hostvars" || len(parts) < 3 {
			continue
		}
		host, name := parts[1], parts[2]
		for _, o := range e.hostRuns() {
			if host != "*" && host != o.inv.Name {
				continue
			}
			pending := o.pendingVar(name)
			switch {
			case pending == "":
			case o == r:
				return fmt.Sprintf("depends on %q, registered by a task that would change", pending)
			default:
				return fmt.Sprintf("depends on %q of host %s, registered by a task that would change", pending, o.inv.Name)
			}
		}
	}
	return ""
}

// pendingRead reports a path the module reads that an earlier task would
// write.
func (e *Engine) pendingRead(r *hostRun, m modules.Module) string {
	rd, ok := m.(modules.Reader)
	if !ok {
		return ""
	}
	for _, p := range rd.Reads() {
		if r.isPendingPath(p) {
			return fmt.Sprintf("reads %s, which an earlier task would change", p)
		}
	}
	return ""
}

// pendingCause reports the pending path a failed task tripped over: the
// path of a file error, or a word of its arguments (a command's operand)
// that names a file an earlier task would write.
func (e *Engine) pendingCause(r *hostRun, err error, args map[string]any) string {
	if pe := (*fs.PathError)(nil); errors.As(err, &pe) && r.isPendingPath(pe.Path) {
		return pe.Path
	}
	found := ""
	walkStrings(args, func(s string) {
		for _, w := range strings.FieldsFunc(s, isWordBreak) {
			if found == "" && r.isPendingPath(w) {
				found = w
			}
		}
	})
	return found
}

func isWordBreak(c rune) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\'' || c == '"' || c == '=' || c == ';' || c == '|' || c == '<' || c == '>'
}

func walkStrings(v any, fn func(string)) {
	switch x := v.(type) {
	case string:
		fn(x)
	case map[string]any:
		for _, val := range x {
			walkStrings(val, fn)
		}
	case []any:
		for _, val := range x {
			walkStrings(val, fn)
		}
	}
}
