package playbooks

import (
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/gpuctl/gpuctl/modules/generic"
)

func TestRolesFromAnsibleCfgRolesPath(t *testing.T) {
	pb, err := (&Loader{}).Load("testdata/roleslib/site.yml")
	if err != nil {
		t.Fatal(err)
	}
	p := pb.Plays[0]
	if len(p.Roles) != 1 || p.Roles[0].Role == nil || !strings.HasSuffix(p.Roles[0].Role.Path, "myroles/nvidia_toolkit") {
		t.Fatalf("roles = %+v", p.Roles)
	}
	r := p.Roles[0]
	if r.Role.Defaults["nvidia_toolkit_repo"] != "https://nvidia.github.io/libnvidia-container" {
		t.Errorf("defaults = %v", r.Role.Defaults)
	}
	// main.yml's FQCN include_tasks loaded install.yml
	if len(r.Include) != 1 || len(r.Include[0].Include) != 1 || r.Include[0].Include[0].Module != "command" {
		t.Fatalf("role tasks = %+v", r.Include)
	}
	inc := p.Tasks[0]
	if inc.Role == nil || len(inc.Include) != 1 || inc.Include[0].Name != "remove toolkit config" {
		t.Fatalf("include_role tasks_from = %+v", inc)
	}
	if inc.Role.Params["nvidia_toolkit_repo"] != "local" {
		t.Errorf("include_role vars are params: %v", inc.Role.Params)
	}
	// import_role of a role already in roles: still runs (dedup is for roles: and deps)
	if len(p.Tasks[1].Include) != 1 {
		t.Errorf("import_role tasks = %+v", p.Tasks[1].Include)
	}
	// the role's handler is in the play once, by name and as "role : name"
	if len(p.Handlers) != 1 || !strings.Contains(strings.Join(p.Handlers[0].Listen, ","), "nvidia_toolkit : restart containerd") {
		t.Fatalf("handlers = %+v", p.Handlers)
	}
}

func TestRoleNotFoundSaysWhere(t *testing.T) {
	_, err := (&Loader{}).Load(filepath.Join(write(t, map[string]string{"pb.yaml": "- hosts: all\n  roles:\n    - geerlingguy.docker\n"}), "pb.yaml"))
	if err == nil || !strings.Contains(err.Error(), `pb.yaml:3: role "geerlingguy.docker" not found in`) {
		t.Fatalf("err = %v", err)
	}
}
