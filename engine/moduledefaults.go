package engine

import (
	"maps"

	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/playbooks"
)

// withModuleDefaults fills the arguments a task does not give from the
// module_defaults of its play, blocks, roles and itself, rendered with the
// task's variables. package also takes apt's defaults, as ansible-core's
// package action applies its backend module's (kubespray's docker role
// sets apt: {update_cache: true} on a package task).
func (tr *taskRun) withModuleDefaults(args map[string]any) (map[string]any, error) {
	layers := []any{tr.play.ModuleDefaults}
	if tr.scope != nil {
		layers = append(layers, tr.scope.moduleDefaults...)
	}
	layers = append(layers, tr.task.ModuleDefaults)
	set := false
	for _, l := range layers {
		set = set || l != nil
	}
	if !set {
		return args, nil
	}
	// merged before rendering, so that a later layer's omit takes the key
	// away from an earlier layer's value, as in ansible-core
	for i, l := range layers {
		if _, templated := l.(string); templated {
			v, err := tr.e.tpl.RenderValue(l, tr.vars)
			if err != nil {
				return nil, err
			}
			layers[i] = v
		}
	}
	module := modules.Canonical(tr.task.Module)
	names := []string{module}
	if module == "package" {
		names = append(names, "apt")
	}
	out := maps.Clone(args)
	if out == nil {
		out = map[string]any{}
	}
	for _, name := range names {
		merged, err := playbooks.ModuleDefaultsFor(layers, name, modules.Canonical)
		if err != nil {
			return nil, err
		}
		rendered, err := tr.e.tpl.RenderValue(merged, tr.vars)
		if err != nil {
			return nil, err
		}
		defaults, _ := tr.e.removeOmit(rendered).(map[string]any)
		for k, v := range defaults {
			if _, given := out[k]; !given {
				out[k] = v
			}
		}
	}
	return out, nil
}
