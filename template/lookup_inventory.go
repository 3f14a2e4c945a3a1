package template

import "errors"

// HostPatterns selects inventory hosts by Ansible host patterns ("all:!www",
// "web[0]", "~db.*"), in the order ansible-core's get_hosts gives them; the
// run's *inventory.Inventory is one.
type HostPatterns interface {
	HostNames(patterns []string) ([]string, error)
}

// SetHostPatterns gives the inventory_hostnames lookup the run's inventory.
// The engine sets it once, before any template renders; the inventory may
// change afterwards (add_host, group_by) and the lookup sees the change.
func (e *Engine) SetHostPatterns(hp HostPatterns) {
	e.mu.Lock()
	e.hostPatterns = hp
	e.mu.Unlock()
}

// lookupInventoryHostnames is ansible.builtin.inventory_hostnames: the
// hosts its terms, host patterns, select.
func (e *Engine) lookupInventoryHostnames(_ varGetter, terms []any, _ map[string]any) ([]any, error) {
	e.mu.Lock()
	hp := e.hostPatterns
	e.mu.Unlock()
	if hp == nil {
		return nil, errors.New("inventory_hostnames: no inventory here (it is known only while a playbook runs)")
	}
	var patterns []string
	for _, t := range flattenN(terms, -1, false) {
		patterns = append(patterns, toString(t))
	}
	out := []any{}
	names, err := hp.HostNames(patterns)
	if err != nil {
		// ansible-core's lookup answers an empty list when the pattern
		// is bad (an invalid regex), rather than failing the task.
		return out, nil
	}
	for _, n := range names {
		out = append(out, n)
	}
	return out, nil
}
