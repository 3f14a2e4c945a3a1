package playbooks

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestAsyncKeywordsLoad(t *testing.T) {
	src := `
- hosts: all
  ignore_unreachable: true
  tasks:
    - command: sleep 1
      async: 60
      poll: 0
    - shell: sleep 1
      async: "{{ limit }}"
      poll: "{{ every }}"
    - command: "true"
      ignore_unreachable: false
    - block:
        - command: "true"
      ignore_unreachable: "{{ flag }}"
    - ptest: {path: /x}
      async: 0
`
	dir := write(t, map[string]string{"pb.yaml": src})
	pb, err := (&Loader{}).Load(filepath.Join(dir, "pb.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ts := pb.Plays[0].Tasks
	if ts[0].Async != 60 || ts[0].Poll == nil || *ts[0].Poll != 0 {
		t.Errorf("async %d poll %v", ts[0].Async, ts[0].Poll)
	}
	if ts[1].Keywords["async"] != "{{ limit }}" || ts[1].Keywords["poll"] != "{{ every }}" {
		t.Errorf("templated: %v", ts[1].Keywords)
	}
	// the play's ignore_unreachable reaches the tasks that set none
	if u := ts[0].IgnoreUnreachable; u == nil || !*u {
		t.Errorf("inherited ignore_unreachable: %v", u)
	}
	if u := ts[2].IgnoreUnreachable; u == nil || *u {
		t.Errorf("task's own ignore_unreachable: %v", u)
	}
	if u := ts[3].IgnoreUnreachable; u != nil || ts[3].Keywords["ignore_unreachable"] != "{{ flag }}" {
		t.Errorf("templated block ignore_unreachable: %v %v", u, ts[3].Keywords)
	}
}

func TestAsyncRefusedAtLoad(t *testing.T) {
	for _, c := range []struct{ name, task, want string }{
		{"module that is not one command", "ptest: {path: /x}\n      async: 10", `pb.yaml:4: task "ptest": ptest cannot run async in gpuctl`},
		{"ansible-core refuses it too", "copy: {dest: /x, content: y}\n      async: 10", `copy cannot run async; ansible-core refuses it too`},
		{"block", "block:\n        - command: 'true'\n      async: 10", `async is a keyword of a task that runs a module`},
		{"negative", "command: 'true'\n      async: -1", `async must be 0 or more seconds`},
		{"not a number", "command: 'true'\n      poll: soon", `pb.yaml:4`},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := "- hosts: all\n  tasks:\n    - " + c.task + "\n"
			dir := write(t, map[string]string{"pb.yaml": src})
			_, err := (&Loader{}).Load(filepath.Join(dir, "pb.yaml"))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
}
