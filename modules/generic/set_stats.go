package generic

import (
	"context"

	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:      "set_stats",
		Summary:   "Accepted for compatibility: records custom stats in the registered result; gpuctl's recap does not print them",
		CheckMode: "Same as a real run; changes nothing.",
		Example: `- set_stats:
    data:
      cluster_ready: true`,
		New: func() modules.Module { return &SetStats{} },
	})
}

// SetStats returns ansible_stats as Ansible's does. The recap has no
// custom-stats section (Ansible prints one only with show_custom_stats),
// so the data goes no further than register.
type SetStats struct {
	Data      map[string]any `yaml:"data" required:"true" doc:"the stats to set"`
	PerHost   bool           `yaml:"per_host" doc:"stats per host rather than for the run"`
	Aggregate bool           `yaml:"aggregate" default:"true" doc:"add to earlier stats instead of replacing them"`
}

func (m *SetStats) Validate() error { return nil }

func (m *SetStats) Result() map[string]any {
	return map[string]any{"ansible_stats": map[string]any{"data": m.Data, "per_host": m.PerHost, "aggregate": m.Aggregate}}
}

func (m *SetStats) Check(context.Context, modules.Host) (plan.Diff, error) { return plan.Diff{}, nil }

func (m *SetStats) Apply(context.Context, modules.Host, plan.Diff) error { return nil }

var (
	_ modules.Module   = (*SetStats)(nil)
	_ modules.Resulter = (*SetStats)(nil)
)
