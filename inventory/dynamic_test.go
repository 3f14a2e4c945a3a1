package inventory_test

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gpuctl/gpuctl/inventory"
)

// dynInventory writes an INI inventory with group_vars/ and host_vars/
// beside it and opens it.
func dynInventory(t *testing.T) *inventory.Inventory {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"inv.ini":                  "[web]\nw1 role=web\nw2\n[db]\nd1\n",
		"group_vars/all.yml":       "level: all\n",
		"group_vars/os_debian.yml": "level: os_debian\nfrom_os: yes\n",
		"group_vars/gpu.yml":       "level: gpu\nfrom_gpu: true\n",
		"group_vars/web.yml":       "level: web\n",
		"host_vars/new1.yml":       "from_host_vars: new1\n",
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	inv, err := inventory.Open(inventory.Options{Sources: []string{filepath.Join(dir, "inv.ini")}})
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

func hostNames(hs []*inventory.Host) []string {
	out := []string{}
	for _, h := range hs {
		out = append(out, h.Name)
	}
	return out
}

func TestGroupByCreatesGroupWithItsGroupVars(t *testing.T) {
	inv := dynInventory(t)
	before, _ := inv.Host("w1")
	changed, err := inv.GroupBy("w1", "os_debian", nil)
	if err != nil || !changed {
		t.Fatalf("GroupBy: changed=%v err=%v", changed, err)
	}
	// As ansible-core: a second identical group_by changes nothing.
	if changed, err := inv.GroupBy("w1", "os_debian", nil); err != nil || changed {
		t.Fatalf("second GroupBy: changed=%v err=%v", changed, err)
	}
	h, _ := inv.Host("w1")
	// Groups of one depth merge by name: web's group_vars outrank os_debian's.
	if h.Vars["level"] != "web" || h.Vars["from_os"] != true || h.Vars["role"] != "web" {
		t.Errorf("w1 vars %v", h.Vars)
	}
	if !reflect.DeepEqual(h.Groups, []string{"all", "os_debian", "web"}) {
		t.Errorf("w1 groups %v", h.Groups)
	}
	// The *Host handed out before is a snapshot: it never changes under a reader.
	if before.Vars["from_os"] != nil || len(before.Groups) != 2 {
		t.Errorf("old snapshot changed: %v %v", before.Vars, before.Groups)
	}
	if w2, _ := inv.Host("w2"); w2.Vars["from_os"] != nil {
		t.Errorf("w2 got os_debian's vars: %v", w2.Vars)
	}
	hs, err := inv.Match("os_debian")
	if err != nil || !reflect.DeepEqual(hostNames(hs), []string{"w1"}) {
		t.Errorf("Match(os_debian) = %v, %v", hostNames(hs), err)
	}
	if g := inv.Groups()["os_debian"]; !reflect.DeepEqual(g, []string{"w1"}) {
		t.Errorf("groups[os_debian] = %v", g)
	}
	if ch := inv.Children("all"); ch[len(ch)-1] != "os_debian" {
		t.Errorf("os_debian not under all: %v", ch)
	}
}

func TestGroupByParents(t *testing.T) {
	inv := dynInventory(t)
	if _, err := inv.GroupBy("d1", "os_debian", []string{"gpu"}); err != nil {
		t.Fatal(err)
	}
	h, _ := inv.Host("d1")
	// gpu is the parent (depth 1), os_debian the child (depth 2): the child's vars win.
	if h.Vars["from_gpu"] != true || h.Vars["level"] != "os_debian" {
		t.Errorf("d1 vars %v", h.Vars)
	}
	if !reflect.DeepEqual(h.Groups, []string{"all", "db", "gpu", "os_debian"}) {
		t.Errorf("d1 groups %v", h.Groups)
	}
	// A second host joining the child also lands in the parent; linking
	// again changes nothing more than the membership.
	if changed, err := inv.GroupBy("w2", "os_debian", []string{"gpu"}); err != nil || !changed {
		t.Fatalf("w2: changed=%v err=%v", changed, err)
	}
	// Members made during the run come in inventory order, whichever
	// host ran first (TestGroupByOrderIsInventoryOrder).
	if g := inv.Groups()["gpu"]; !reflect.DeepEqual(g, []string{"w2", "d1"}) {
		t.Errorf("groups[gpu] = %v", g)
	}
	// Making an existing group the parent of a group with members gives
	// them the parent's vars too.
	if _, err := inv.GroupBy("w1", "web", []string{"gpu"}); err != nil {
		t.Fatal(err)
	}
	if w2, _ := inv.Host("w2"); w2.Vars["from_gpu"] != true {
		t.Errorf("w2 vars %v", w2.Vars)
	}
	if _, err := inv.GroupBy("w1", "gpu", []string{"web"}); err == nil || !strings.Contains(err.Error(), "recursive") {
		t.Errorf("cycle: %v", err)
	}
	if _, err := inv.GroupBy("nosuch", "x", nil); err == nil || !strings.Contains(err.Error(), "nosuch") {
		t.Errorf("unknown host: %v", err)
	}
}

func TestAddHost(t *testing.T) {
	inv := dynInventory(t)
	changed, err := inv.AddHost("new1", []string{"web", "gpu"}, map[string]any{"ansible_host": "10.0.0.9", "level": "own"})
	if err != nil || !changed {
		t.Fatalf("AddHost: changed=%v err=%v", changed, err)
	}
	h, ok := inv.Host("new1")
	if !ok {
		t.Fatal("new1 not found")
	}
	// Host vars outrank group vars; host_vars/new1.yml is read for the new host.
	if h.Vars["ansible_host"] != "10.0.0.9" || h.Vars["level"] != "own" || h.Vars["from_gpu"] != true || h.Vars["from_host_vars"] != "new1" {
		t.Errorf("new1 vars %v", h.Vars)
	}
	if !reflect.DeepEqual(h.Groups, []string{"all", "gpu", "web"}) {
		t.Errorf("new1 groups %v", h.Groups)
	}
	if got := hostNames(inv.Hosts()); !reflect.DeepEqual(got, []string{"w1", "w2", "d1", "new1"}) {
		t.Errorf("Hosts() = %v", got)
	}
	if g := inv.Groups()["web"]; !reflect.DeepEqual(g, []string{"w1", "w2", "new1"}) {
		t.Errorf("groups[web] = %v", g)
	}
	if changed, err := inv.AddHost("new1", []string{"web"}, map[string]any{"ansible_host": "10.0.0.9"}); err != nil || changed {
		t.Errorf("same again: changed=%v err=%v", changed, err)
	}
	if changed, _ := inv.AddHost("new1", nil, map[string]any{"ansible_host": "10.0.0.10"}); !changed {
		t.Error("a new value is a change")
	}
	if h, _ := inv.Host("new1"); h.Vars["ansible_host"] != "10.0.0.10" {
		t.Errorf("vars not updated: %v", h.Vars)
	}
	// A host without groups lands in ungrouped, as ansible-core's reconcile.
	if _, err := inv.AddHost("lone", nil, nil); err != nil {
		t.Fatal(err)
	}
	if g := inv.Groups()["ungrouped"]; !reflect.DeepEqual(g, []string{"lone"}) {
		t.Errorf("ungrouped = %v", g)
	}
	if _, err := inv.AddHost("", nil, nil); err == nil {
		t.Error("empty name accepted")
	}
}

func TestParseAddress(t *testing.T) {
	for in, want := range map[string]string{
		"web1:2222":       "web1 2222",
		"web1":            "web1 0",
		"10.0.0.1:22":     "10.0.0.1 22",
		"[fe80::1]:2200":  "fe80::1 2200",
		"fe80::1":         "fe80::1 0",
		"not a host:name": "not a host:name 0",
	} {
		h, p := inventory.ParseAddress(in)
		if got := fmt.Sprintf("%s %d", h, p); got != want {
			t.Errorf("ParseAddress(%q) = %q, want %q", in, got, want)
		}
	}
}

// The engine runs hosts in parallel: group_by and add_host change the
// inventory while other hosts read it. Run under -race.
func TestDynamicInventoryConcurrent(t *testing.T) {
	inv := dynInventory(t)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 20 {
				host := []string{"w1", "w2", "d1"}[(i+j)%3]
				if _, err := inv.GroupBy(host, fmt.Sprintf("g%d", j%4), []string{"gpu"}); err != nil {
					t.Error(err)
				}
				if _, err := inv.AddHost(fmt.Sprintf("n%d", i), []string{"web"}, map[string]any{"i": i}); err != nil {
					t.Error(err)
				}
				if _, err := inv.Match("gpu:&web"); err != nil {
					t.Error(err)
				}
				_ = inv.Groups()
				for _, h := range inv.Hosts() {
					_ = h.Vars["level"]
					_ = len(h.Groups)
				}
				if h, ok := inv.Host(host); ok {
					_ = h.Vars["from_gpu"]
				}
			}
		}()
	}
	wg.Wait()
	if got := len(inv.Groups()["gpu"]); got != 3 {
		t.Errorf("gpu has %d hosts, want 3", got)
	}
	if got := len(inv.Hosts()); got != 11 {
		t.Errorf("%d hosts, want 11", got)
	}
}

// Hosts run group_by in parallel, in any order; groups, their members and
// their children come out in inventory order, as ansible-core's linear
// strategy gives them (it takes results in host order).
func TestGroupByOrderIsInventoryOrder(t *testing.T) {
	inv := dynInventory(t)
	for _, step := range []struct{ host, group string }{
		{"d1", "kind_back"}, {"w2", "kind_front"}, {"w1", "kind_front"},
	} {
		if _, err := inv.GroupBy(step.host, step.group, []string{"parent"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, h := range []string{"d1", "w2", "w1"} {
		if _, err := inv.GroupBy(h, "sp", nil); err != nil {
			t.Fatal(err)
		}
	}
	groups := inv.Groups()
	for g, want := range map[string][]string{
		"kind_front": {"w1", "w2"},
		"parent":     {"w1", "w2", "d1"},
		"sp":         {"w1", "w2", "d1"},
	} {
		if !reflect.DeepEqual(groups[g], want) {
			t.Errorf("groups[%s] = %v, want %v", g, groups[g], want)
		}
	}
	if got := inv.Children("parent"); !reflect.DeepEqual(got, []string{"kind_front", "kind_back"}) {
		t.Errorf("parent's children %v", got)
	}
	hs, err := inv.Match("kind_*")
	if err != nil || !reflect.DeepEqual(hostNames(hs), []string{"w1", "w2", "d1"}) {
		t.Errorf("Match(kind_*) = %v, %v", hostNames(hs), err)
	}
}

// Groups is kept between calls (every task-host reads it), so it must
// follow each change group_by and add_host make, and only those.
func TestGroupsFollowDynamicChanges(t *testing.T) {
	inv := dynInventory(t)
	g0, gen0 := inv.GroupsGen()
	if g1, gen1 := inv.GroupsGen(); gen1 != gen0 || !reflect.DeepEqual(g0, g1) {
		t.Fatalf("no change, yet generation %d -> %d or groups %v -> %v", gen0, gen1, g0, g1)
	}
	if _, err := inv.GroupBy("d1", "gpu", nil); err != nil {
		t.Fatal(err)
	}
	g2, gen2 := inv.GroupsGen()
	if gen2 == gen0 {
		t.Error("group_by left the generation as it was")
	}
	if want := []string{"d1"}; !reflect.DeepEqual(g2["gpu"], want) {
		t.Errorf("after group_by, gpu = %v, want %v", g2["gpu"], want)
	}
	if _, err := inv.AddHost("new1", []string{"gpu"}, nil); err != nil {
		t.Fatal(err)
	}
	g3 := inv.Groups()
	if want := []string{"d1", "new1"}; !reflect.DeepEqual(g3["gpu"], want) {
		t.Errorf("after add_host, gpu = %v, want %v", g3["gpu"], want)
	}
	if !slices.Contains(g3["all"], "new1") {
		t.Errorf("after add_host, all = %v, lacks new1", g3["all"])
	}
	if slices.Contains(g2["all"], "new1") {
		t.Error("add_host changed a groups map already handed out")
	}
}
