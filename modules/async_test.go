package modules

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestJobStatus(t *testing.T) {
	for _, c := range []struct {
		name, data string
		finished   int
		err        string
		keys       map[string]any
	}{
		{"not written yet", "", 0, "", map[string]any{"started": 1}},
		{"started", `{"started": 1, "finished": 0, "ansible_job_id": "j1.2"}`, 0, "", map[string]any{"ansible_job_id": "j1.2"}},
		{"done", `{"changed": true, "rc": 0, "stdout": "a\nb", "stderr": ""}`, 1, "",
			map[string]any{"rc": 0, "changed": true, "stdout_lines": []string{"a", "b"}, "ansible_job_id": "j1.2"}},
		{"failed", `{"changed": true, "rc": 3, "stdout": "", "stderr": "bad\n", "failed": true, "msg": "non-zero return code"}`, 1,
			"non-zero return code (rc 3): bad", map[string]any{"msg": "non-zero return code"}},
		{"timed out", `{"msg": "Timeout exceeded", "failed": true, "child_pid": 7}`, 1, "Timeout exceeded", nil},
		{"garbage", `{"started`, 1, "Could not parse job output", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, err := JobStatus("j1.2", "/root/.ansible_async/j1.2", []byte(c.data))
			if res["finished"] != c.finished {
				t.Errorf("finished = %v, want %d", res["finished"], c.finished)
			}
			switch {
			case c.err == "" && err != nil:
				t.Errorf("err = %v", err)
			case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
				t.Errorf("err = %v, want %q", err, c.err)
			}
			var rerr *ResultError
			if err != nil && !errors.As(err, &rerr) {
				t.Errorf("error %T registers no result", err)
			}
			for k, v := range c.keys {
				if !reflect.DeepEqual(res[k], v) {
					t.Errorf("%s = %#v, want %#v", k, res[k], v)
				}
			}
		})
	}
}

func TestSplitLinesLikePython(t *testing.T) {
	for in, want := range map[string][]string{"": {}, "\n": {""}, "x\n\n": {"x", ""}, "a\r\nb": {"a", "b"}, "a": {"a"}} {
		if got := splitLines(in); !reflect.DeepEqual(got, want) {
			t.Errorf("splitLines(%q) = %q, want %q", in, got, want)
		}
	}
}
