package playbooks

import (
	"testing"

	"github.com/gpuctl/gpuctl/modules"
	_ "github.com/gpuctl/gpuctl/modules/all"
)

// A hint is only shown for a module gpuctl does not have; one for a module
// that has since been written would never show and only mislead a reader.
func TestEquivalentsAreForMissingModules(t *testing.T) {
	for name := range equivalents {
		if _, err := modules.Resolve(name); err == nil {
			t.Errorf("equivalents[%q]: gpuctl has this module now; drop the hint", name)
		}
	}
	if len(equivalents) == 0 {
		t.Fatal("no hints at all")
	}
}
