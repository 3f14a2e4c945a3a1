package generic

import (
	"context"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

// ExecArgs are the arguments command and shell share.
type ExecArgs struct {
	Chdir           string `yaml:"chdir" doc:"directory to run in; relative creates/removes paths are taken from here too"`
	Creates         string `yaml:"creates" doc:"path (glob allowed); when it exists the command does not run"`
	Removes         string `yaml:"removes" doc:"path (glob allowed); when it does not exist the command does not run"`
	Stdin           string `yaml:"stdin" doc:"text fed to the command's standard input"`
	StdinAddNewline bool   `yaml:"stdin_add_newline" default:"true" doc:"append a newline to stdin"`
	StripEmptyEnds  bool   `yaml:"strip_empty_ends" default:"true" doc:"drop trailing newlines from stdout and stderr in the registered result"`
}

func (a ExecArgs) validate() error {
	if a.Chdir != "" && !path.IsAbs(a.Chdir) {
		return fmt.Errorf("chdir %q must be an absolute path", a.Chdir)
	}
	return nil
}

func (a ExecArgs) reads() []string {
	var out []string
	for _, p := range []string{a.Creates, a.Removes} {
		if p != "" {
			out = append(out, a.abs(p))
		}
	}
	return out
}

func (a ExecArgs) abs(p string) string {
	if path.IsAbs(p) || a.Chdir == "" {
		return p
	}
	return path.Join(a.Chdir, p)
}

// runner is the part of command and shell that does the work once the
// command line is known.
type runner struct {
	ExecArgs
	cmdline string // what runs on the host's /bin/sh
	cmd     any    // what `register` shows as cmd: argv for command, text for shell
	result  map[string]any
}

func (a ExecArgs) unverified() bool { return a.Creates == "" && a.Removes == "" }

// check skips when creates/removes say so, and otherwise plans to run.
func (r *runner) check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	var d plan.Diff
	if r.Creates != "" {
		ok, err := exists(ctx, h, r.abs(r.Creates))
		if err != nil {
			return d, err
		}
		if ok {
			r.skipped(h, fmt.Sprintf("skipped, since %s exists", r.Creates), fmt.Sprintf("not run command since '%s' exists", r.Creates))
			return d, nil
		}
	}
	if r.Removes != "" {
		ok, err := exists(ctx, h, r.abs(r.Removes))
		if err != nil {
			return d, err
		}
		if !ok {
			r.skipped(h, fmt.Sprintf("skipped, since %s does not exist", r.Removes), fmt.Sprintf("not run command since '%s' does not exist", r.Removes))
			return d, nil
		}
	}
	d.Add(plan.Change{Resource: "command", Action: plan.Run, After: r.cmdline})
	// The command promises to create or remove these paths: saying so
	// lets check mode mark later readers of them as known after apply.
	if r.Creates != "" && !hasGlob(r.Creates) {
		d.Add(plan.Change{Resource: "file:" + r.abs(r.Creates), Action: plan.Create, Field: "state", After: "created by the command"})
	}
	if r.Removes != "" && !hasGlob(r.Removes) {
		d.Add(plan.Change{Resource: "file:" + r.abs(r.Removes), Action: plan.Delete, Field: "state", After: "removed by the command"})
	}
	return d, nil
}

// skipped is the result of a command creates or removes kept from
// running, with ansible-core's stdout and msg.
func (r *runner) skipped(h modules.Host, stdout, msg string) {
	if cm, ok := h.(modules.CheckModer); ok && cm.CheckMode() {
		msg = "Would " + msg
	} else {
		msg = "Did " + msg
	}
	r.result = map[string]any{"cmd": r.cmd, "rc": 0, "stdout": stdout, "stderr": "",
		"stdout_lines": []string{stdout}, "stderr_lines": []string{}, "msg": msg}
}

func (r *runner) apply(ctx context.Context, h modules.Host) error {
	var opts []conn.ExecOption
	if r.Chdir != "" {
		opts = append(opts, conn.Dir(r.Chdir))
	}
	if r.Stdin != "" {
		in := r.Stdin
		if r.StdinAddNewline && !strings.HasSuffix(in, "\n") {
			in += "\n"
		}
		opts = append(opts, conn.Stdin(strings.NewReader(in)))
	}
	start := time.Now()
	res, err := h.Conn().Run(ctx, r.cmdline, opts...)
	end := time.Now()
	if err != nil {
		return fmt.Errorf("run %q: %w", r.cmdline, err)
	}
	stdout, stderr := res.Stdout, res.Stderr
	if r.StripEmptyEnds {
		stdout, stderr = strings.TrimRight(stdout, "\r\n"), strings.TrimRight(stderr, "\r\n")
	}
	r.result = map[string]any{
		"cmd":          r.cmd,
		"rc":           res.ExitCode,
		"stdout":       stdout,
		"stderr":       stderr,
		"stdout_lines": lines(stdout),
		"stderr_lines": lines(stderr),
		"start":        start.Format("2006-01-02 15:04:05.000000"),
		"end":          end.Format("2006-01-02 15:04:05.000000"),
		"delta":        fmtDelta(end.Sub(start)),
		"msg":          "",
	}
	if res.ExitCode != 0 {
		r.result["msg"] = "non-zero return code"
		return &CommandError{Cmd: r.cmdline, RC: res.ExitCode, Stderr: stderr, Stdout: stdout, result: r.result}
	}
	return nil
}

// detach is the command apply would run, for an async task.
func (r *runner) detach() modules.DetachedCommand {
	in := r.Stdin
	if in != "" && r.StdinAddNewline && !strings.HasSuffix(in, "\n") {
		in += "\n"
	}
	return modules.DetachedCommand{Cmdline: r.cmdline, Cmd: r.cmd, Dir: r.Chdir, Stdin: in, StripEmptyEnds: r.StripEmptyEnds}
}

// exists tests a path, or a glob of paths, on the host.
func exists(ctx context.Context, h modules.Host, p string) (bool, error) {
	if !hasGlob(p) {
		_, ok, err := stat(ctx, h, p)
		return ok, err
	}
	if found, ok, err := globExists(ctx, h, p); ok || err != nil {
		return found, err
	}
	res, err := h.Conn().Run(ctx, "for f in "+globWord(p)+`; do [ -e "$f" ] || [ -L "$f" ] && exit 0; done; exit 1`)
	if err != nil {
		return false, fmt.Errorf("glob %s: %w", p, err)
	}
	return res.ExitCode == 0, nil
}

func lines(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
}

// fmtDelta prints a duration as Python's timedelta does ("0:00:01.002345").
func fmtDelta(d time.Duration) string {
	us := d.Microseconds()
	return fmt.Sprintf("%d:%02d:%02d.%06d", us/3600e6, us/60e6%60, us/1e6%60, us%1e6)
}

// CommandError is a command that ran and exited non-zero. It carries the
// registered result, so the engine can evaluate failed_when or honour
// ignore_errors and still `register` stdout and rc.
type CommandError struct {
	Cmd    string
	RC     int
	Stdout string
	Stderr string
	result map[string]any
}

func (e *CommandError) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	if msg == "" {
		msg = strings.TrimSpace(e.Stdout)
	}
	if len(msg) > 2000 {
		msg = "…" + msg[len(msg)-2000:]
	}
	return fmt.Sprintf("command %q exited %d: %s", e.Cmd, e.RC, msg)
}

// Result is the same map the module's Result returns.
func (e *CommandError) Result() map[string]any { return e.result }

var _ modules.Resulter = (*CommandError)(nil)
