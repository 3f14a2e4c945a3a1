package engine_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/conn/local"
	"github.com/gpuctl/gpuctl/engine"
	"github.com/gpuctl/gpuctl/internal/testhosts"
	"github.com/gpuctl/gpuctl/inventory"
	"github.com/gpuctl/gpuctl/playbooks"
)

// clusterLike is the shape of a kubeadm install: init once, every host
// joins with the init's output, then nodes are drained one at a time.
const clusterLike = `
- hosts: all
  gather_facts: false
  tasks:
    - name: init
      shell: "echo init > /tmp/fleet-init; echo token-$(hostname)"
      run_once: true
      register: init
    - name: once on a delegate
      copy: {dest: /tmp/fleet-delegated, content: "for {{ inventory_hostname }}\n"}
      run_once: true
      delegate_to: n4
    - name: join
      copy: {dest: /tmp/fleet-joined, content: "{{ inventory_hostname }} {{ init.stdout }}\n"}
    - name: fail on the third
      shell: "exit 3"
      when: inventory_hostname == 'n3'
    - name: after
      copy: {dest: /tmp/fleet-after, content: "ok\n"}
- hosts: all
  gather_facts: false
  serial: 1
  tasks:
    - name: drain
      shell: "date +%s%N > /tmp/fleet-drain; sleep 0.3; date +%s%N >> /tmp/fleet-drain"
`

// TestFleetControlsOnRealHosts runs clusterLike on real hosts over SSH with
// forks 1 and forks 4: run_once runs on the first host only and every host
// joins with its output; run_once with delegate_to runs once, on the
// delegate, for the first host; serial 1 drains one host at a time; and the
// outcome (per-host results, files) is the same whatever --forks is.
func TestFleetControlsOnRealHosts(t *testing.T) {
	ths := testhosts.Start(t, 4) // skips without the fixture
	names := []string{"n1", "n2", "n3", "n4"}
	conns := testhostConnector{}
	var invYAML strings.Builder
	invYAML.WriteString("all:\n  hosts:\n")
	for i, n := range names {
		conns[n] = ths[i]
		fmt.Fprintf(&invYAML, "    %s: {}\n", n)
	}
	var first string
	for _, forks := range []int{1, 4} {
		for _, h := range ths {
			h.Run(t, "rm -f /tmp/fleet-*")
		}
		got := runClusterLike(t, invYAML.String(), conns, forks)
		files := hostFiles(t, ths, names)
		got += files
		if first == "" {
			first = got
			checkClusterLike(t, ths, files)
		} else if got != first {
			t.Fatalf("forks %d differs from forks 1:\n%s\nforks 1:\n%s", forks, got, first)
		}
	}
}

func runClusterLike(t *testing.T, invYAML string, conns testhostConnector, forks int) string {
	t.Helper()
	inv, err := inventory.Parse("inv.yaml", []byte(invYAML))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "pb.yaml")
	if err := os.WriteFile(path, []byte(clusterLike), 0o644); err != nil {
		t.Fatal(err)
	}
	pb, err := (&playbooks.Loader{}).Load(path)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	opt := engine.Options{Local: local.New(), Reporter: rec, Connector: conns, Forks: forks}
	recap, err := engine.New(inv, opt).Run(context.Background(), pb)
	if err == nil || !strings.Contains(err.Error(), `host n3, task "fail on the third"`) {
		t.Fatalf("forks %d: want n3's failure named, got %v", forks, err)
	}
	res := rec.results()
	slices.Sort(res)
	var counts []string
	for _, h := range recap.Order {
		counts = append(counts, fmt.Sprintf("%s %+v", h, *recap.Hosts[h]))
	}
	return strings.Join(res, "\n") + "\n" + strings.Join(counts, "\n") + "\n"
}

// hostFiles lists what the run left in /tmp on each host, drain times
// reduced to "drained".
func hostFiles(t *testing.T, ths []testhosts.Host, names []string) string {
	var b strings.Builder
	for i, h := range ths {
		out := h.Run(t, "cd /tmp && for f in fleet-init fleet-delegated fleet-joined fleet-after; do test -e $f && echo \"$f: $(cat $f)\"; done; test -e fleet-drain && echo drained; true")
		fmt.Fprintf(&b, "%s (%s):\n%s\n", names[i], h.Name, strings.ReplaceAll(out, h.Name, "HOSTNAME"))
	}
	return b.String()
}

func checkClusterLike(t *testing.T, ths []testhosts.Host, files string) {
	t.Helper()
	want := fmt.Sprintf(`n1 (%s):
fleet-init: init
fleet-joined: n1 token-%s
fleet-after: ok
drained
n2 (%s):
fleet-joined: n2 token-%s
fleet-after: ok
drained
n3 (%s):
fleet-joined: n3 token-%s
n4 (%s):
fleet-delegated: for n1
fleet-joined: n4 token-%s
fleet-after: ok
drained
`, ths[0].Name, "HOSTNAME", ths[1].Name, ths[0].Name, ths[2].Name, ths[0].Name, ths[3].Name, ths[0].Name)
	// n1's own line names its hostname, replaced by HOSTNAME in its block.
	if files != want {
		t.Fatalf("files on the hosts:\n%s\nwant:\n%s", files, want)
	}
	var spans [][2]int64
	for _, i := range []int{0, 1, 3} {
		f := strings.Fields(ths[i].Run(t, "cat /tmp/fleet-drain"))
		a, _ := strconv.ParseInt(f[0], 10, 64)
		b, _ := strconv.ParseInt(f[1], 10, 64)
		spans = append(spans, [2]int64{a, b})
	}
	slices.SortFunc(spans, func(x, y [2]int64) int { return int(x[0] - y[0]) })
	for i := 1; i < len(spans); i++ {
		if spans[i][0] < spans[i-1][1] {
			t.Fatalf("serial 1: drains overlapped: %v", spans)
		}
	}
}
