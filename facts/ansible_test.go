package facts_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/facts"
)

// recorded is a host whose facts come from a recorded gathering output; any
// fact not in the recording is an error, so a test cannot reach a machine.
type recorded struct{ cache *facts.Cache }

func (r recorded) Conn() conn.Conn         { return noConn{} }
func (r recorded) FactCache() *facts.Cache { return r.cache }
func loadRecorded(t *testing.T, dir string) recorded {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", dir, "base.txt"))
	if err != nil {
		t.Fatal(err)
	}
	c := facts.NewCache()
	c.Record(string(b), facts.Base...)
	return recorded{c}
}

type noConn struct{ conn.Conn }

var errNoHost = errors.New("recorded host: not in the recording")

func (noConn) Run(context.Context, string, ...conn.ExecOption) (conn.Result, error) {
	return conn.Result{}, errNoHost
}
func (noConn) ReadFile(context.Context, string) ([]byte, error) { return nil, errNoHost }

// The keys the issue lists, compared with what Debian's ansible-core 2.14
// setup module returned on the same machine (TestRecordLocal).
var sameValue = []string{
	"distribution", "distribution_version", "distribution_major_version", "distribution_minor_version",
	"distribution_release", "os_family", "architecture", "machine", "system", "hostname", "nodename", "domain",
	"kernel", "kernel_version", "memtotal_mb", "swaptotal_mb", "processor", "processor_count", "processor_cores",
	"processor_threads_per_core", "processor_vcpus", "processor_nproc", "user_id", "user_uid", "user_gid",
	"user_dir", "user_shell", "user_gecos", "pkg_mgr", "service_mgr", "machine_id", "default_ipv4", "default_ipv6",
	"virtualization_type", "virtualization_role", "local", "lo", "eth0", "python", "python_version",
}

// Keys whose value moves between two gatherings: compared by shape.
var sameShape = []string{"memfree_mb", "swapfree_mb", "memory_mb", "date_time", "env", "fqdn",
	"all_ipv4_addresses", "all_ipv6_addresses", "interfaces", "virtualization_tech_guest", "virtualization_tech_host"}

func TestAnsibleVarsMatchAnsibleSetup(t *testing.T) {
	h := loadRecorded(t, "local-debian12")
	vars, err := facts.AnsibleVars(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("testdata/local-debian12/ansible-setup.json")
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	got := jsonRoundTrip(t, vars)
	af := got["ansible_facts"].(map[string]any)
	for _, k := range append(slices.Clone(sameValue), sameShape...) {
		w, ok := want["ansible_"+k]
		if !ok {
			t.Errorf("ansible-setup.json has no ansible_%s", k)
			continue
		}
		g := got["ansible_"+k]
		if !reflect.DeepEqual(g, af[k]) {
			t.Errorf("ansible_%s and ansible_facts.%s differ", k, k)
		}
		if slices.Contains(sameValue, k) {
			if !reflect.DeepEqual(dropKeys(g), dropKeys(w)) {
				t.Errorf("ansible_%s:\n gpuctl  %v\n ansible %v", k, g, w)
			}
		} else if s1, s2 := shape(g), shape(w); s1 != s2 {
			t.Errorf("ansible_%s shape:\n gpuctl  %s\n ansible %s", k, s1, s2)
		}
	}
	// Lists whose order Ansible takes from the kernel: same members.
	for _, k := range []string{"interfaces", "all_ipv4_addresses", "all_ipv6_addresses"} {
		if !sameSet(got["ansible_"+k], want["ansible_"+k]) {
			t.Errorf("ansible_%s: gpuctl %v, ansible %v", k, got["ansible_"+k], want["ansible_"+k])
		}
	}
	for _, g := range want["ansible_virtualization_tech_guest"].([]any) {
		if !slices.Contains(got["ansible_virtualization_tech_guest"].([]any), g) {
			t.Errorf("virtualization_tech_guest misses %v: %v", g, got["ansible_virtualization_tech_guest"])
		}
	}
}

// dropKeys leaves out of interface dicts what gpuctl does not gather
// (ethtool features, hardware offload, timestamping, pciid, speed).
func dropKeys(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	out := map[string]any{}
	for k, x := range m {
		switch k {
		case "features", "hw_timestamp_filters", "timestamping", "pciid", "speed", "module", "perm_macaddress":
			continue
		}
		out[k] = x
	}
	return out
}

func jsonRoundTrip(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// shape describes a JSON value's type, and its keys for objects.
func shape(v any) string {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		s := "{"
		for _, k := range keys {
			s += k + ":" + shape(x[k]) + " "
		}
		return s + "}"
	case []any:
		if len(x) == 0 {
			return "[]"
		}
		return "[" + shape(x[0]) + "]"
	case nil:
		return "null"
	}
	return reflect.TypeOf(v).Kind().String()
}

func sameSet(a, b any) bool {
	la, _ := a.([]any)
	lb, _ := b.([]any)
	if len(la) != len(lb) {
		return false
	}
	for _, x := range la {
		if !slices.Contains(lb, x) {
			return false
		}
	}
	return true
}
