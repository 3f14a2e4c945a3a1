package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

// defaultPoll is ansible-core's DEFAULT_POLL_INTERVAL: the seconds between
// looks at an async job when the task gives no poll.
const defaultPoll = 15

// runAsync runs a task with async: as ansible-core does. The module's
// command runs on the host detached from the connection (asyncLauncher),
// its result goes to ~/.ansible_async/<jid> of the task's user; with poll
// > 0 gpuctl reads that file every poll seconds until the job ends or the
// async seconds are spent, with poll: 0 the task returns the job's id at
// once and the job runs on.
func (tr *taskRun) runAsync(ctx context.Context, m modules.Module, h *taskHost) (plan.Diff, bool, error, map[string]any) {
	t := tr.task
	fail := func(d plan.Diff, err error) (plan.Diff, bool, error, map[string]any) {
		return d, false, err, tr.e.result(m, d, err)
	}
	det, ok := m.(modules.Detacher)
	if !ok { // the loader refuses these; a task built in code may not
		return fail(plan.Diff{}, fmt.Errorf("%s cannot run as an async job", t.Module))
	}
	poll := defaultPoll
	if t.Poll != nil {
		poll = *t.Poll
	}
	// Check decides, as the module would on the host, whether there is
	// anything to run (creates, removes).
	d, err := safeCheck(ctx, m, h)
	if err != nil {
		return fail(d, err)
	}
	job := asyncJob{jid: newJID(), limit: t.Async, dir: modules.AsyncDirOf(tr.vars)}
	if d.Empty() {
		res := tr.e.result(m, d, nil)
		if poll > 0 {
			// What async_status reads from a job whose module found
			// nothing to do (creates, removes).
			res["started"], res["finished"], res["ansible_job_id"] = 1, 1, job.jid
			return d, false, nil, res
		}
		// Fire and forget still hands back a job, whose result is
		// already known: the module's own, skipped.
		started, err := job.write(ctx, h.Conn(), res)
		if err != nil {
			return fail(d, err)
		}
		return d, false, nil, started
	}
	started, err := job.start(ctx, h.Conn(), det.Detach())
	h.run.cache.Invalidate()
	if err != nil {
		return fail(d, err)
	}
	if poll == 0 {
		return d, true, nil, started
	}
	res, err := tr.waitJob(ctx, h, job, poll)
	if res == nil {
		res = tr.e.result(m, d, err)
	}
	return d, true, err, res
}

// waitJob polls the job as ansible-core's TaskExecutor._poll_async_result
// does: async seconds in steps of poll, a dropped connection dialled again
// rather than failing the task, and the results file removed once read.
func (tr *taskRun) waitJob(ctx context.Context, h *taskHost, job asyncJob, poll int) (map[string]any, error) {
	var last map[string]any
	var jobErr, connErr error
	for left := job.limit; left > 0; left -= poll {
		select {
		case <-time.After(time.Duration(poll) * time.Second):
		case <-ctx.Done():
			return last, ctx.Err()
		}
		path, data, err := job.read(ctx, h.Conn())
		if err != nil {
			connErr = err
			if errors.Is(err, conn.ErrConnLost) || errors.Is(err, conn.ErrUnreachable) {
				_ = tr.redialTask(ctx, h) // the next poll tells whether it worked
			}
			continue
		}
		connErr = nil
		last, jobErr = modules.JobStatus(job.jid, path, data)
		if last["finished"] == 1 {
			break
		}
	}
	if last == nil || last["finished"] != 1 {
		if connErr != nil {
			return nil, fmt.Errorf("async job %s: %w", job.jid, connErr)
		}
		msg := fmt.Sprintf("async task did not complete within the requested time - %ds", job.limit)
		return map[string]any{"failed": true, "msg": msg, "async_result": last, "ansible_job_id": job.jid}, errors.New(msg)
	}
	if err := job.cleanup(ctx, h.Conn(), last["results_file"]); err != nil {
		return last, err
	}
	return last, jobErr
}

// redialTask dials the host again for a task whose connection dropped, with
// the task's become and environment.
func (tr *taskRun) redialTask(ctx context.Context, h *taskHost) error {
	if err := h.Reconnect(ctx); err != nil {
		return err
	}
	c, err := tr.e.connFor(ctx, tr.play, tr.host, tr.task, tr.scope, tr.vars)
	if err == nil {
		c, err = tr.e.withEnvironment(c, tr.play, tr.scope, tr.task, tr.vars)
	}
	if err != nil {
		return err
	}
	h.conn = c
	return nil
}

// asyncJob is one async job on a host.
type asyncJob struct {
	jid   string
	limit int    // seconds
	dir   string // async_dir on the host (modules.AsyncDirOf)
}

// newJID makes a job id of the form ansible-core 2.14 gives
// (j<random>.<pid>), unique enough among a user's jobs.
func newJID() string {
	return fmt.Sprintf("j%d.%d", rand.Int64N(1_000_000_000_000), os.Getpid())
}

// start launches the job and returns what ansible-core's async_wrapper
// prints when it has started one.
func (j asyncJob) start(ctx context.Context, c conn.Conn, cmd modules.DetachedCommand) (map[string]any, error) {
	script, err := asyncLauncher(j, cmd)
	if err != nil {
		return nil, err
	}
	out, err := conn.Output(ctx, c, script)
	if err != nil {
		return nil, fmt.Errorf("start async job %s: %w", j.jid, err)
	}
	return j.started(out), nil
}

func (j asyncJob) started(path string) map[string]any {
	// changed: ansible-core marks every job it starts changed ("for
	// backwards compat", ActionBase._execute_module).
	return map[string]any{"failed": false, "changed": true, "started": 1, "finished": 0,
		"ansible_job_id": j.jid, "results_file": strings.TrimSpace(path)}
}

// write records a job whose result is known without running anything.
func (j asyncJob) write(ctx context.Context, c conn.Conn, res map[string]any) (map[string]any, error) {
	data, err := json.Marshal(res)
	if err != nil {
		return nil, fmt.Errorf("async job %s: %w", j.jid, err)
	}
	script := `umask 022; jd=` + modules.AsyncDirWord(j.dir) + `; mkdir -p "$jd" && rf="$jd"/` + conn.Quote(j.jid) +
		` && cat > "$rf.tmp" && mv -f "$rf.tmp" "$rf" && printf '%s\n' "$rf"`
	out, err := conn.Output(ctx, c, script, conn.Stdin(strings.NewReader(string(data))))
	if err != nil {
		return nil, fmt.Errorf("async job %s: write result: %w", j.jid, err)
	}
	return j.started(out), nil
}

// read returns the results file's path and contents.
func (j asyncJob) read(ctx context.Context, c conn.Conn) (string, []byte, error) {
	res, err := c.Run(ctx, modules.ReadJobScript(j.dir, j.jid))
	if err != nil {
		return "", nil, err
	}
	path, data, _ := strings.Cut(res.Stdout, "\n")
	switch res.ExitCode {
	case 0:
		return path, []byte(data), nil
	case 3:
		return path, nil, fmt.Errorf("async job %s: could not find job (%s is gone)", j.jid, path)
	}
	return path, nil, fmt.Errorf("async job %s: read %s: exit %d: %s", j.jid, path, res.ExitCode, strings.TrimSpace(res.Stderr))
}

func (j asyncJob) cleanup(ctx context.Context, c conn.Conn, path any) error {
	p, _ := path.(string)
	if p == "" {
		return nil
	}
	if _, err := conn.Output(ctx, c, "rm -f -- "+conn.Quote(p)); err != nil {
		return fmt.Errorf("async job %s: cleanup: %w", j.jid, err)
	}
	return nil
}

// asyncLauncher is the script that starts a job. It writes the results
// file as async_wrapper does first ({"started": 1, "finished": 0}), then
// starts the job script in a session of its own, with no terminal and its
// output in files, so neither a closed SSH session nor sudo's pty takes it
// down, and prints the results file's path.
func asyncLauncher(j asyncJob, cmd modules.DetachedCommand) (string, error) {
	cmdJSON, err := json.Marshal(cmd.Cmd)
	if err != nil {
		return "", fmt.Errorf("async job %s: cmd: %w", j.jid, err)
	}
	strip := "0"
	if cmd.StripEmptyEnds {
		strip = "1"
	}
	job := "limit=" + strconv.Itoa(j.limit) + " strip=" + strip + " dir=" + conn.Quote(cmd.Dir) +
		" cmdline=" + conn.Quote(cmd.Cmdline) + " cmdjson=" + conn.Quote(string(cmdJSON)) + "\n" + asyncJobScript
	return `umask 022
jd=` + modules.AsyncDirWord(j.dir) + `
mkdir -p "$jd" || exit 1
jid=` + conn.Quote(j.jid) + `
rf="$jd/$jid" wd="$jd/$jid.gpuctl"
mkdir "$wd" || exit 1
printf '%s' ` + conn.Quote(cmd.Stdin) + ` > "$wd/in" || exit 1
printf '{"started": 1, "finished": 0, "ansible_job_id": "%s"}' "$jid" > "$rf.tmp" && mv -f "$rf.tmp" "$rf" || exit 1
setsid /bin/sh -c ` + conn.Quote(job) + ` gpuctl-async "$rf" "$wd" </dev/null >/dev/null 2>&1 &
printf '%s\n' "$rf"
`, nil
}

// asyncJobScript runs the command (in a process group of its own, which
// the watchdog kills after limit seconds, writing async_wrapper's "Timeout
// exceeded" result) and writes the command module's result as JSON, its
// output escaped with awk: the host needs no Python.
const asyncJobScript = `rf=$1 wd=$2
jstr() {
	nl=0
	if [ "$strip" != 1 ] && [ -s "$1" ] && [ "$(tail -c 1 "$1" | od -An -c | tr -d ' ')" = '\n' ]; then nl=1; fi
	LC_ALL=C awk -v strip="$strip" -v nl="$nl" '
function esc(s,    out, ch) {
	out = ""
	while (match(s, /[\\"\001-\037]/)) {
		ch = substr(s, RSTART, 1)
		out = out substr(s, 1, RSTART - 1) m[ch]
		s = substr(s, RSTART + 1)
	}
	return out s
}
BEGIN {
	for (i = 1; i < 32; i++) m[sprintf("%c", i)] = sprintf("\\u%04x", i)
	m["\t"] = "\\t"; m["\r"] = "\\r"; m["\""] = "\\\""; m["\\"] = "\\\\"
}
{ rec[NR] = $0 }
END {
	n = NR
	if (strip == 1) {
		while (n > 0) { sub(/\r+$/, "", rec[n]); if (rec[n] != "") break; n-- }
	}
	printf "\""
	for (i = 1; i <= n; i++) printf "%s%s", (i > 1 ? "\\n" : ""), esc(rec[i])
	if (nl == 1) printf "\\n"
	printf "\""
}' "$1"
}
start=$(date '+%Y-%m-%d %H:%M:%S.%6N') t0=$(date +%s%N)
setsid -w /bin/sh -c '[ -z "$1" ] || cd "$1" || exit 1; exec /bin/sh -c "$2"' gpuctl-async-cmd "$dir" "$cmdline" <"$wd/in" >"$wd/out" 2>"$wd/err" &
cpid=$!
setsid /bin/sh -c 'sleep "$1"; printf "{\"msg\": \"Timeout exceeded\", \"failed\": true, \"child_pid\": %s}" "$2" > "$3.tmp" && mv -f "$3.tmp" "$3"; : > "$4/timeout"; kill -s KILL -- -"$2"' gpuctl-async-watch "$limit" "$cpid" "$rf" "$wd" </dev/null >/dev/null 2>&1 &
wpid=$!
wait "$cpid"
rc=$?
kill -s TERM -- -"$wpid" 2>/dev/null
if [ -e "$wd/timeout" ]; then rm -rf "$wd"; exit 0; fi
end=$(date '+%Y-%m-%d %H:%M:%S.%6N') t1=$(date +%s%N)
us=$(( (t1 - t0) / 1000 ))
delta=$(printf '%d:%02d:%02d.%06d' $((us / 3600000000)) $((us / 60000000 % 60)) $((us / 1000000 % 60)) $((us % 1000000)))
msg= failed=
if [ "$rc" -ne 0 ]; then msg='non-zero return code' failed=', "failed": true'; fi
{
	printf '{"changed": true, "cmd": %s, "rc": %d, "start": "%s", "end": "%s", "delta": "%s", "msg": "%s"%s, "stdout": ' "$cmdjson" "$rc" "$start" "$end" "$delta" "$msg" "$failed"
	jstr "$wd/out"
	printf ', "stderr": '
	jstr "$wd/err"
	printf '}\n'
} > "$rf.tmp" && mv -f "$rf.tmp" "$rf"
rm -rf "$wd"
`
