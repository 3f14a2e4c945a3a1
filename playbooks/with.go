package playbooks

import (
	"fmt"
	"strings"

	"github.com/gpuctl/gpuctl/template"
)

// withLookup is the lookup plugin a with_<name> loop names, without the collection of an
// FQCN name (with_community.general.flattened, with_ansible.builtin.dict).
func withLookup(name string) string {
	for _, p := range []string{"ansible.builtin.", "ansible.legacy.", "community.general."} {
		if rest, ok := strings.CutPrefix(name, p); ok {
			return rest
		}
	}
	return name
}

// checkWithLookup refuses, at load, a with_ loop over a lookup plugin gpuctl does not have.
// The engine runs the loops of engine/loops.go itself and any other lookup as lookup()
// would, on the loop's terms.
func checkWithLookup(name string) error {
	if template.IsLookup(name) && name != "template" {
		return nil
	}
	return fmt.Errorf("lookup plugin %q is not supported (supported: %s)", name, strings.Join(template.LookupNames(), ", "))
}
