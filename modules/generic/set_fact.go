package generic

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"

	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:      "set_fact",
		Summary:   "Set variables (any name: value pairs) on the host for the tasks that follow",
		CheckMode: "Sets the same variables as in a real run, so later tasks check against them; changes nothing on the host.",
		Example: `- set_fact:
    kube_version: "1.34.4"
    control_plane: "{{ groups['control'][0] }}"`,
		AnyKeys: true,
		New:     func() modules.Module { return &SetFact{} },
	})
}

// SetFact takes any keys (Info.AnyKeys): they decode into Facts through
// mapstructure's ",remain", which keeps each value as the template rendered
// it (lists, maps, numbers), so the loader and the engine treat set_fact as
// every other module.
type SetFact struct {
	Cacheable bool           `yaml:"cacheable" doc:"accepted for compatibility; facts last for the run"`
	Facts     map[string]any `yaml:",remain" doc:"every other key becomes a variable of the host, with its value"`
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// SetRawArgs decodes args as Spec.Build does, for callers holding a bare
// SetFact.
func (m *SetFact) SetRawArgs(args map[string]any) error {
	*m = SetFact{}
	return modules.Decode(args, m)
}

func (m *SetFact) Validate() error {
	if len(m.Facts) == 0 {
		return errors.New("set_fact needs at least one variable")
	}
	keys := make([]string, 0, len(m.Facts))
	for k := range m.Facts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !identifier.MatchString(k) {
			return fmt.Errorf("%q is not a valid variable name", k)
		}
	}
	return nil
}

func (m *SetFact) SetFacts() map[string]any { return m.Facts }

func (m *SetFact) Result() map[string]any { return map[string]any{"ansible_facts": m.Facts} }

func (m *SetFact) Check(context.Context, modules.Host) (plan.Diff, error) { return plan.Diff{}, nil }

func (m *SetFact) Apply(context.Context, modules.Host, plan.Diff) error { return nil }

var (
	_ modules.Module     = (*SetFact)(nil)
	_ modules.FactSetter = (*SetFact)(nil)
	_ modules.Resulter   = (*SetFact)(nil)
)
