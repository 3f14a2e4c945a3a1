package engine

import (
	"slices"

	"github.com/gpuctl/gpuctl/inventory"
)

// invHost is the host's inventory entry as it is now: group_by and
// add_host give a host a new entry when its groups or variables change, and
// the hostRun keeps the one it started with.
func (e *Engine) invHost(r *hostRun) *inventory.Host {
	if h, ok := e.inv.Host(r.inv.Name); ok {
		return h
	}
	return r.inv
}

// inventoryChanged follows a change group_by or add_host made: values
// decrypted from the vault files of new groups and hosts, and passwords
// given to a new host, are masked; a host add_host made or changed joins
// ansible_play_hosts_all of the running play, as in Ansible.
func (e *Engine) inventoryChanged(added string) {
	for _, s := range e.inv.Secrets() {
		e.addSecret(s)
	}
	if added == "" {
		return
	}
	if h, ok := e.inv.Host(added); ok {
		for _, k := range passwordVars {
			if s, ok := h.Vars[k].(string); ok && s != "" {
				e.addSecret(s)
			}
		}
	}
	if p := e.play; p != nil {
		p.mu.Lock()
		if !slices.Contains(p.hosts, added) && !slices.Contains(p.added, added) {
			p.added = append(p.added, added)
			p.lists = nil
		}
		p.mu.Unlock()
	}
}
