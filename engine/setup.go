package engine

import (
	"context"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/gpuctl/gpuctl/modules"
)

func init() {
	modules.Register(modules.Info{
		Name:      "setup",
		Summary:   "Gather the host's facts again (after a change, or in a play with gather_facts: false), optionally only some",
		CheckMode: "Gathers as in a real run; changes nothing.",
		Example: `- setup:
    filter:
      - ansible_distribution*
      - ansible_default_ipv4`,
		New: func() modules.Module { return &Setup{} },
	})
}

// Setup is ansible.builtin.setup. gpuctl reads every base fact in one
// remote process, so gather_subset does not make gathering cheaper; it is
// checked and accepted, and filter narrows what is set and registered.
type Setup struct {
	noWork
	GatherSubset  []string `yaml:"gather_subset" doc:"checked as ansible-core 2.14 checks it: all, min, a collector (hardware, network, virtual, ...) or one fact (architecture, os_family, ...), each with ! to leave out; gpuctl gathers all"`
	Filter        []string `yaml:"filter" doc:"shell patterns of fact names (with or without ansible_) to keep"`
	GatherTimeout int      `yaml:"gather_timeout" doc:"accepted for compatibility"`
	FactPath      string   `yaml:"fact_path" doc:"accepted only as /etc/ansible/facts.d, where ansible_local is read from"`
}

// subsets are the names ansible-core 2.14's setup accepts in gather_subset on
// Linux: every fact collector's name and every fact id a collector declares
// (collector.py's all_fact_subsets), besides all and min. Roles name single
// facts (sops: architecture, os_family), not only the collector groups.
var subsets = []string{"all_ipv4_addresses", "all_ipv6_addresses", "apparmor", "architecture", "caps", "chroot",
	"cmdline", "date_time", "default_ipv4", "default_ipv6", "devices", "distribution", "distribution_major_version",
	"distribution_release", "distribution_version", "dns", "effective_group_ids", "effective_user_id", "env",
	"facter", "fibre_channel_wwn", "fips", "hardware", "interfaces", "is_chroot", "iscsi", "kernel",
	"kernel_version", "loadavg", "local", "lsb", "machine", "machine_id", "mounts", "network", "nvme", "ohai",
	"os_family", "pkg_mgr", "platform", "processor", "processor_cores", "processor_count", "python",
	"python_version", "real_user_id", "selinux", "service_mgr", "ssh_host_key_dsa_public",
	"ssh_host_key_ecdsa_public", "ssh_host_key_ed25519_public", "ssh_host_key_rsa_public", "ssh_host_pub_keys",
	"ssh_pub_keys", "system", "system_capabilities", "system_capabilities_enforced", "user", "user_dir",
	"user_gecos", "user_gid", "user_id", "user_shell", "user_uid", "virtual", "virtualization_role",
	"virtualization_tech_guest", "virtualization_tech_host", "virtualization_type"}

// Validate checks gather_subset as ansible-core's get_collector_names does:
// all and min, with or without !, and the names above; a negated name it does
// not know is ignored, an added one is an error with Ansible's message. A
// string is split at commas, as Ansible's list type does.
func (m *Setup) Validate() error {
	var names []string
	for _, s := range m.GatherSubset {
		names = append(names, strings.Split(s, ",")...)
	}
	for _, s := range names {
		if s == "all" || s == "min" || strings.HasPrefix(s, "!") {
			continue
		}
		if !slices.Contains(subsets, s) {
			return fmt.Errorf("gather_subset: Bad subset '%s' given to Ansible. gather_subset options allowed: all, %s", s, strings.Join(subsets, ", "))
		}
	}
	for _, f := range m.Filter {
		if _, err := path.Match(f, ""); err != nil {
			return fmt.Errorf("filter %q: %w", f, err)
		}
	}
	if m.FactPath != "" && m.FactPath != "/etc/ansible/facts.d" {
		return fmt.Errorf("fact_path %q: gpuctl reads local facts from /etc/ansible/facts.d only", m.FactPath)
	}
	return nil
}

// act measures the host again and merges the (filtered) facts into the
// host's, as Ansible's setup adds to the facts it had.
func (m *Setup) act(ctx context.Context, tr *taskRun, _ *taskHost) (execution, error) {
	r := tr.host
	r.cache.Invalidate()
	all, err := gatherFacts(ctx, factHost{r}, tr.e.opt.Logger.With("host", r.inv.Name))
	if err != nil {
		return execution{err: err}, nil
	}
	af, _ := all["ansible_facts"].(map[string]any)
	if len(m.GatherSubset) > 0 { // reported as given, commas split, as Ansible's list type does
		var subset []any
		for _, s := range m.GatherSubset {
			for _, n := range strings.Split(s, ",") {
				subset = append(subset, n)
			}
		}
		af["gather_subset"] = subset
	}
	kept := map[string]any{}
	for k, v := range af {
		if m.keep(k) {
			kept[k] = v
		}
	}
	r.mu.Lock()
	if r.facts == nil {
		r.facts = modules.Facts{}
	}
	facts := maps.Clone(r.facts)
	own, _ := facts["ansible_facts"].(map[string]any)
	own = maps.Clone(own)
	if own == nil {
		own = map[string]any{}
	}
	prefixed := map[string]any{}
	for k, v := range kept {
		if k == "gather_subset" || k == "module_setup" { // setup's own keys: plain variables, as in Ansible
			own[k], facts[k], prefixed[k] = v, v, v
			continue
		}
		own[k], facts["ansible_"+k], prefixed["ansible_"+k] = v, v, v
		if _, plain := all[k]; plain { // gpuctl's own names (os_id, gpu_count)
			facts[k] = v
		}
	}
	facts["ansible_facts"] = own
	r.facts = facts
	r.mu.Unlock()
	res := newResult()
	res["ansible_facts"] = prefixed
	return execution{res: res}, nil
}

// keep applies filter to an un-prefixed fact name; a pattern may name it
// with or without ansible_, as in Ansible 2.14.
func (m *Setup) keep(name string) bool {
	if len(m.Filter) == 0 {
		return true
	}
	for _, f := range m.Filter {
		for _, n := range []string{name, "ansible_" + name} {
			if ok, _ := path.Match(f, n); ok {
				return true
			}
		}
	}
	return false
}

var _ action = (*Setup)(nil)
