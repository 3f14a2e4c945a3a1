package playbooks_test

import (
	"testing"

	_ "github.com/gpuctl/gpuctl/modules/all"
	"github.com/gpuctl/gpuctl/playbooks"
)

// Every bundled playbook loads and validates with the real modules, with and
// without the inventory groups its plays name.
func TestBundledPlaybooksLoad(t *testing.T) {
	names := playbooks.BundledNames()
	if len(names) < 3 {
		t.Fatalf("bundled playbooks: %v", names)
	}
	for _, n := range names {
		b, ok := playbooks.Bundled(n)
		if !ok {
			t.Fatalf("%s not found", n)
		}
		for _, groups := range []map[string]any{
			{"all": []any{"a"}},
			{"all": []any{"a", "b"}, "control_plane": []any{"a"}, "workers": []any{"b"}, "gpu": []any{"b"}},
		} {
			l := &playbooks.Loader{ReadFile: b.ReadFile, Vars: map[string]any{"groups": groups}}
			pb, err := l.Load(b.Path)
			if err != nil {
				t.Fatalf("%s: %v", n, err)
			}
			if len(pb.Plays) == 0 {
				t.Fatalf("%s has no plays", n)
			}
		}
	}
}

// The example playbooks load against the example inventory.
func TestExamplePlaybooksLoad(t *testing.T) {
	groups := map[string]any{"all": []any{"cp-1", "gpu-1", "gpu-2"}, "control_plane": []any{"cp-1"}, "workers": []any{"gpu-1", "gpu-2"}, "gpu": []any{"gpu-1", "gpu-2"}}
	for _, p := range []string{"../examples/add-gpu-node.yaml"} {
		l := &playbooks.Loader{Vars: map[string]any{"groups": groups}}
		if _, err := l.Load(p); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
	}
}
