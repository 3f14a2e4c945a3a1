package modules

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/gpuctl/gpuctl/internal/pyjson"
)

// ReadJobScript is a shell script that prints the path of job jid's
// results file in dir (AsyncDirOf), as the host expands it, on its first
// line and the file after it; it exits 3 when there is no such file.
func ReadJobScript(dir, jid string) string {
	return `f=` + AsyncDirWord(dir) + `/'` + strings.ReplaceAll(jid, `'`, `'"'"'`) + `'; printf '%s\n' "$f"; [ -e "$f" ] || exit 3; cat -- "$f"`
}

// JobStatus is what ansible-core's async_status returns for a job whose
// results file holds data: the job's own result once it finished, with
// started, finished and ansible_job_id; the error is the job's failure.
// The engine uses it too, to poll a job it waits for.
func JobStatus(jid, path string, data []byte) (map[string]any, error) {
	out := map[string]any{"ansible_job_id": jid, "results_file": path, "started": 1, "finished": 0,
		"stdout": "", "stderr": "", "stdout_lines": []string{}, "stderr_lines": []string{}}
	job, err := decodeJob(data)
	if err != nil || job == nil {
		if strings.TrimSpace(string(data)) == "" {
			return out, nil // not written yet: still running
		}
		out["finished"] = 1
		return out, &ResultError{Err: fmt.Errorf("Could not parse job output: %s", data), Res: out}
	}
	for k, v := range job {
		out[k] = v
	}
	if _, ok := job["started"]; !ok {
		// the job's own result: async_wrapper writes no started key there
		out["finished"], out["ansible_job_id"] = 1, jid
	} else if _, ok := job["finished"]; !ok {
		out["finished"] = 0
	}
	// JSON numbers decode as float64; callers compare with 1 and 0.
	for _, k := range []string{"started", "finished"} {
		if truthy(out[k]) {
			out[k] = 1
		} else {
			out[k] = 0
		}
	}
	for _, k := range []string{"stdout", "stderr"} {
		if s, ok := job[k].(string); ok {
			if _, has := job[k+"_lines"]; !has {
				out[k+"_lines"] = splitLines(s)
			}
		}
	}
	if truthy(job["failed"]) {
		msg, _ := job["msg"].(string)
		if msg == "" {
			msg = "async job failed"
		}
		if rc, ok := job["rc"]; ok && msg == "non-zero return code" {
			msg = fmt.Sprintf("%s (rc %v): %s", msg, rc, strings.TrimSpace(fmt.Sprint(out["stderr"])))
		}
		return out, &ResultError{Err: errors.New(msg), Res: out}
	}
	return out, nil
}

// decodeJob decodes a job's JSON with whole numbers as ints, as Python's
// json does, so rc renders as 4 and not 4.0.
func decodeJob(data []byte) (map[string]any, error) {
	return pyjson.DecodeObject(bytes.NewReader(data))
}

// truthy reads a JSON flag as Python does: true, 1 and "true" are set.
func truthy(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case float64:
		return x != 0
	case int: // the defaults JobStatus sets itself
		return x != 0
	case string:
		return x != "" && x != "0" && !strings.EqualFold(x, "false")
	}
	return false
}

// ResultError is a failure that still registers a result (the engine's
// result() finds it as a Resulter).
type ResultError struct {
	Err error
	Res map[string]any
}

func (e *ResultError) Error() string          { return e.Err.Error() }
func (e *ResultError) Unwrap() error          { return e.Err }
func (e *ResultError) Result() map[string]any { return e.Res }

// splitLines splits as Python's str.splitlines does for \n and \r\n: a
// final line break ends the last line rather than starting an empty one.
func splitLines(s string) []string {
	if s == "" {
		return []string{}
	}
	s = strings.TrimSuffix(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	return strings.Split(s, "\n")
}

var _ Resulter = (*ResultError)(nil)
