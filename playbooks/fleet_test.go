package playbooks

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestFleetKeywordsLoad(t *testing.T) {
	src := `
- hosts: all
  strategy: host_pinned
  serial: [1, "30%", 5]
  max_fail_percentage: 25
  any_errors_fatal: true
  tasks:
    - block:
        - ptest: {path: /x}
          throttle: 2
      throttle: 3
      any_errors_fatal: false
- hosts: all
  tasks: []
`
	dir := write(t, map[string]string{"pb.yaml": src})
	pb, err := (&Loader{}).Load(filepath.Join(dir, "pb.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	p := pb.Plays[0]
	if p.Strategy != StrategyFree || strings.Join(p.Serial, ",") != "1,30%,5" || *p.MaxFailPercentage != 25 || !p.AnyErrorsFatal {
		t.Fatalf("play = strategy %q serial %v mfp %v fatal %v", p.Strategy, p.Serial, *p.MaxFailPercentage, p.AnyErrorsFatal)
	}
	blk := p.Tasks[0]
	if blk.Throttle != 3 || blk.AnyErrorsFatal == nil || *blk.AnyErrorsFatal || blk.Block[0].Throttle != 2 {
		t.Fatalf("block throttle %d fatal %v, task throttle %d", blk.Throttle, blk.AnyErrorsFatal, blk.Block[0].Throttle)
	}
	if q := pb.Plays[1]; q.Strategy != "" || q.MaxFailPercentage != nil || q.AnyErrorsFatal {
		t.Fatalf("defaults: %+v", q)
	}
}

func TestFleetKeywordErrorsNameFileAndLine(t *testing.T) {
	cases := []struct{ name, src, want string }{
		{"strategy", "- hosts: all\n  strategy: lineer\n  tasks: []\n", `pb.yaml:2: unknown strategy "lineer" (gpuctl knows linear, free, host_pinned) (did you mean "linear"?)`},
		{"serial", "- hosts: all\n  serial: half\n  tasks: []\n", `pb.yaml:2: serial "half": expected a number of hosts or a percentage`},
		{"serial list", "- hosts: all\n  serial: [1, x%]\n  tasks: []\n", `pb.yaml:2: serial "x%"`},
		{"max_fail_percentage", "- hosts: all\n  max_fail_percentage: 120\n  tasks: []\n", `pb.yaml:2: max_fail_percentage: expected a number from 0 to 100, got "120"`},
		{"throttle", "- hosts: all\n  tasks:\n    - ptest: {path: /x}\n      throttle: many\n", `pb.yaml:4: expected an integer, got "many"`},
		{"negative throttle", "- hosts: all\n  tasks:\n    - ptest: {path: /x}\n      throttle: -1\n", `pb.yaml:4: throttle must be 0`},
		{"task any_errors_fatal", "- hosts: all\n  tasks:\n    - ptest: {path: /x}\n      any_errors_fatal: sure\n", `pb.yaml:4: expected true or false`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := write(t, map[string]string{"pb.yaml": c.src})
			_, err := (&Loader{}).Load(filepath.Join(dir, "pb.yaml"))
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v\nwant it to contain %q", err, c.want)
			}
		})
	}
}
