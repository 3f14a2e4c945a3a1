package engine

import (
	"testing"

	"github.com/gpuctl/gpuctl/modules"
)

// Facts a module returns under ansible_facts (service_facts) join the
// host's facts, un-prefixed in the dict and as variables, and keep the
// gathered ones.
func TestSetVarAnsibleFacts(t *testing.T) {
	r := &hostRun{runtime: map[string]any{}, facts: modules.Facts{
		"ansible_distribution": "Debian", "ansible_facts": map[string]any{"distribution": "Debian"}}}
	old := r.facts
	r.setVar("ansible_facts", map[string]any{"services": map[string]any{"ssh.service": "x"}, "ansible_local": 1})
	af := r.facts["ansible_facts"].(map[string]any)
	if af["distribution"] != "Debian" || af["services"] == nil || af["local"] != 1 || r.facts["services"] == nil {
		t.Errorf("facts %v", r.facts)
	}
	if _, ok := old["services"]; ok {
		t.Error("the old facts map was changed")
	}
	if len(r.runtime) != 0 {
		t.Errorf("runtime %v", r.runtime)
	}
}
