package engine

import (
	"maps"
	"slices"
	"strings"

	"github.com/gpuctl/gpuctl/playbooks"
)

// enter adds what a block, include or role wrapper t brings to the scope
// of the tasks inside it besides tags, conditions and vars: its role and
// its environment layer.
func (s *scope) enter(t *playbooks.Task) {
	s.roles = slices.Clone(s.roles)
	s.environment = slices.Clone(s.environment)
	if t.Role != nil {
		s.roles = append(s.roles, t.Role)
	}
	if t.Environment != nil {
		s.environment = append(s.environment, t.Environment)
	}
	if t.ModuleDefaults != nil {
		s.moduleDefaults = append(slices.Clone(s.moduleDefaults), t.ModuleDefaults)
	}
	s.enterFleet(t) // step.go
}

// roleLayers returns the enclosing roles' variables by Ansible's
// precedence: defaults below inventory, role vars above play vars, params
// above registered values. The innermost role wins within each layer.
func roleLayers(sc *scope) (defaults, vars, params map[string]any) {
	defaults, vars, params = map[string]any{}, map[string]any{}, map[string]any{}
	if sc == nil {
		return
	}
	for _, r := range sc.roles {
		maps.Copy(defaults, r.Defaults)
		maps.Copy(vars, r.Vars)
		maps.Copy(params, r.Params)
	}
	return
}

// roleMagic sets role_name and role_path for tasks inside a role; the
// copy and template modules look up their src under role_path first.
func roleMagic(vars map[string]any, sc *scope) {
	if sc == nil || len(sc.roles) == 0 {
		return
	}
	r := sc.roles[len(sc.roles)-1]
	vars["role_name"], vars["role_path"] = r.Name, r.Path
	vars["ansible_role_name"] = roleFQCN(r.Name, r.Path)
}

// roleFQCN is ansible_role_name: a collection's role by its fully
// qualified name (devsec.hardening.os_hardening), any other by its name.
func roleFQCN(name, dir string) string {
	const mark = "/ansible_collections/"
	i := strings.LastIndex(dir, mark)
	if i < 0 {
		return name
	}
	parts := strings.Split(dir[i+len(mark):], "/")
	if len(parts) == 4 && parts[2] == "roles" {
		return parts[0] + "." + parts[1] + "." + parts[3]
	}
	return name
}

// publicRoles are the defaults and vars of the include_roles with public:
// true that a host has run in a play: they reach its later tasks at the
// ranks of the play's roles', as ansible-core adds such a role to the
// play's roles once it has run.
type publicRoles struct {
	play           *playbooks.Play
	defaults, vars map[string]any
}

// addPublic records include t's role (and its dependencies) for r.
func (r *hostRun) addPublic(play *playbooks.Play, t *playbooks.Task) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.public == nil || r.public.play != play {
		r.public = &publicRoles{play: play, defaults: map[string]any{}, vars: map[string]any{}}
	}
	var add func(t *playbooks.Task)
	add = func(t *playbooks.Task) {
		for _, dep := range t.Include { // meta dependencies wrap first
			if dep.Role == nil || !strings.HasSuffix(dep.Pos.File, "meta/main.yml") {
				break
			}
			add(dep)
		}
		maps.Copy(r.public.defaults, t.Role.Defaults)
		maps.Copy(r.public.vars, t.Role.Vars)
	}
	add(t)
}

// publicOf returns what addPublic recorded for r in play.
func (r *hostRun) publicOf(play *playbooks.Play) (defaults, vars map[string]any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.public == nil || r.public.play != play {
		return nil, nil
	}
	return r.public.defaults, r.public.vars
}
