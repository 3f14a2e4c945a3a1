package playbooks_test

import (
	"fmt"
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

// validate.yaml's GPU test pod is the pod site.yaml runs: the same image,
// node selector and tolerations. Without them (as found on the H100 node)
// the check pod lacked the gpu-only toleration and never scheduled, and
// its default image cannot be pulled on an air-gapped cluster.
func TestValidateGPUPodMatchesSite(t *testing.T) {
	groups := map[string]any{"all": []any{"a"}, "control_plane": []any{"a"}, "gpu": []any{"a"}}
	args := func(name, module string) map[string]any {
		t.Helper()
		b, _ := playbooks.Bundled(name)
		l := &playbooks.Loader{ReadFile: b.ReadFile, Vars: map[string]any{"groups": groups}}
		pb, err := l.Load(b.Path)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, p := range pb.Plays {
			for _, task := range p.AllTasks() {
				if task.Module == module {
					return task.Args
				}
			}
		}
		t.Fatalf("%s has no %s task", name, module)
		return nil
	}
	site := args("site.yaml", "gpu_test_pod")
	pod, ok := args("validate.yaml", "cluster_check")["gpu_pod"].(map[string]any)
	if !ok {
		t.Fatal("validate.yaml's cluster_check sets no gpu_pod arguments")
	}
	for _, k := range []string{"image", "node_selector", "tolerations"} {
		if fmt.Sprint(pod[k]) != fmt.Sprint(site[k]) {
			t.Errorf("gpu_pod %s: validate.yaml %v, site.yaml %v", k, pod[k], site[k])
		}
	}
	if site["keep"] != true {
		t.Errorf("site.yaml's GPU test pod keep = %v: a re-run would run it again (a change, and no free GPU once the model server holds it)", site["keep"])
	}
}
