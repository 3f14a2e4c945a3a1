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
	GatherSubset  []string `yaml:"gather_subset" doc:"accepted subsets: all, min, hardware, network, virtual, ohai, facter and their !negations; gpuctl gathers all"`
	Filter        []string `yaml:"filter" doc:"shell patterns of fact names (with or without ansible_) to keep"`
	GatherTimeout int      `yaml:"gather_timeout" doc:"accepted for compatibility"`
	FactPath      string   `yaml:"fact_path" doc:"accepted only as /etc/ansible/facts.d, where ansible_local is read from"`
}

var subsets = []string{"all", "min", "hardware", "network", "virtual", "ohai", "facter",
	"apparmor", "caps", "cmdline", "date_time", "distribution", "dns", "env", "fips", "local", "lsb", "pkg_mgr",
	"platform", "python", "selinux", "service_mgr", "ssh_pub_keys", "user", "devices", "interfaces", "mounts"}

func (m *Setup) Validate() error {
	for _, s := range m.GatherSubset {
		name := strings.TrimPrefix(s, "!")
		if !slices.Contains(subsets, name) {
			return fmt.Errorf("gather_subset: unknown subset %q (known: %s)", s, strings.Join(subsets, ", "))
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
