package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/facts"
	"github.com/gpuctl/gpuctl/modules"
)

// gatherFacts reads the base facts (facts.Base, one remote process) and every
// registered gatherer's. The base facts carry Ansible's names (ansible_* and
// the ansible_facts dict, see facts.AnsibleVars); the gatherers' keys join
// both, as Ansible's custom facts do.
func gatherFacts(ctx context.Context, h facts.Host, log *slog.Logger) (modules.Facts, error) {
	if err := facts.Gather(ctx, h, facts.Base...); err != nil {
		return nil, err
	}
	vars, err := facts.AnsibleVars(ctx, h)
	if err != nil {
		return nil, fmt.Errorf("gathering facts: %w", err)
	}
	f := modules.Facts(vars)
	af := vars["ansible_facts"].(map[string]any)
	// gpuctl's own names from before the facts layer, kept for playbooks.
	for _, k := range []string{"os_id", "os_pretty_name", "cgroup_version"} {
		f[k] = af[k]
	}
	for _, g := range modules.FactGatherers() {
		extra, err := g.Gather(ctx, h.Conn())
		if err != nil {
			if errors.Is(err, conn.ErrConnLost) || errors.Is(err, context.Canceled) {
				return nil, fmt.Errorf("gathering %s facts: %w", g.Name, err)
			}
			// One family failing (no nvidia-smi, no containerd) must not stop
			// the run; the modules that need it report the cause.
			log.Warn("fact gathering failed", "gatherer", g.Name, "err", err)
			continue
		}
		for k, v := range extra {
			f[k], af[k] = v, v
		}
	}
	return f, nil
}

// factHost gathers over the host's connection without become, into the
// host's cache for the run.
type factHost struct{ r *hostRun }

func (h factHost) Conn() conn.Conn         { return h.r.base }
func (h factHost) FactCache() *facts.Cache { return h.r.cache }
