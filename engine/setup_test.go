package engine

import (
	"slices"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/modules"
)

// gather_subset takes what ansible-core 2.14's setup takes: all and min, a
// collector or a single fact id (community.sops: architecture, os_family),
// ! before any of them, a negated name it does not know (ignored), and a
// comma-separated string; an added unknown name fails with Ansible's message.
func TestSetupGatherSubsetLikeAnsible(t *testing.T) {
	for _, tc := range []struct {
		subset any
		err    string
	}{
		{[]any{"!all", "!min", "architecture", "distribution", "distribution_major_version", "distribution_version", "os_family", "pkg_mgr"}, ""},
		{[]any{"all", "!hardware", "!facter", "!ohai"}, ""},
		{[]any{"min", "python_version", "virtual", "ssh_host_pub_keys"}, ""},
		{[]any{"!no_such_subset"}, ""},
		{"network,!virtual", ""},
		{[]any{"no_such_subset"}, "Bad subset 'no_such_subset' given to Ansible. gather_subset options allowed: all, all_ipv4_addresses"},
		{"architecture,hw", "Bad subset 'hw'"},
	} {
		_, err := modules.New("setup", map[string]any{"gather_subset": tc.subset})
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%v: %v", tc.subset, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%v: error %v, want %q", tc.subset, err, tc.err)
		}
	}
	if !slices.IsSorted(subsets) {
		t.Error("subsets is not sorted: Ansible's message lists them sorted")
	}
}
