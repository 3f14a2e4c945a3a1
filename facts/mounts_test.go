package facts_test

import (
	"context"
	"fmt"
	"sort"
	"testing"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/conn/local"
	"github.com/gpuctl/gpuctl/facts"
	"github.com/gpuctl/gpuctl/internal/ansibletest"
)

func TestParseMounts(t *testing.T) {
	out := "/dev/sda1 / ext4 rw,relatime 0 0\n/dev/sdb1 /mnt/with\\040space xfs rw 0 0\n" +
		"@@\n4096 1000 250 4096 640 600 /\n"
	ms, err := facts.ParseMounts([]byte(out))
	if err != nil || len(ms) != 2 {
		t.Fatalf("%v %+v", err, ms)
	}
	if ms[1].Mount != "/mnt/with space" || ms[1].Sized {
		t.Errorf("escaped mount point, or sizes for a mount stat did not answer: %+v", ms[1])
	}
	a := facts.AnsibleMounts(ms)[0].(map[string]any)
	if a["size_total"] != int64(4096*1000) || a["block_used"] != int64(750) || a["inode_used"] != int64(40) || a["uuid"] != "N/A" {
		t.Errorf("%v", a)
	}
}

// The mounts fact on this machine, against ansible-core's setup on the same
// machine: the same mounts, devices, types, options, and the sizes that do
// not move (block size and counts, inode totals).
func TestMountsLikeAnsible(t *testing.T) {
	res := ansibletest.Run(t, "setup", map[string]any{"filter": "ansible_mounts"}, false)
	af, _ := res["ansible_facts"].(map[string]any)
	theirs, _ := af["ansible_mounts"].([]any)
	c := facts.NewCache()
	h := localHost{c}
	ms, err := facts.Get(context.Background(), h, facts.Mounts)
	if err != nil {
		t.Fatal(err)
	}
	ours := facts.AnsibleMounts(ms)
	key := func(list []any) []string {
		var out []string
		for _, e := range list {
			m := e.(map[string]any)
			for k, v := range m {
				if f, ok := v.(float64); ok { // through JSON
					m[k] = int64(f)
				}
			}
			out = append(out, fmt.Sprint(m["mount"], " ", m["device"], " ", m["fstype"], " ", m["options"], " ", m["block_size"], " ", m["block_total"], " ", m["inode_total"]))
		}
		sort.Strings(out)
		return out
	}
	if a, b := fmt.Sprint(key(ours)), fmt.Sprint(key(theirs)); a != b {
		t.Errorf("gpuctl:\n%s\nansible:\n%s", a, b)
	}
}

type localHost struct{ cache *facts.Cache }

func (l localHost) Conn() conn.Conn         { return local.New() }
func (l localHost) FactCache() *facts.Cache { return l.cache }
