package playbooks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A role named ns.coll.role comes from an installed collection, and a plain
// role name used inside that role resolves to the collection's own role
// first (as sensu.sensu_go.agent's `include_role: name: install` does),
// even when the playbook's roles/ has a role of the same name.
func TestCollectionRoles(t *testing.T) {
	colls := write(t, map[string]string{
		"ansible_collections/acme/tools/roles/agent/tasks/main.yml":   "- include_role:\n    name: install\n- debug: msg=agent\n",
		"ansible_collections/acme/tools/roles/install/tasks/main.yml": "- debug: msg=from-collection\n",
	})
	pbDir := write(t, map[string]string{
		"pb.yml":                       "- hosts: all\n  roles:\n    - role: acme.tools.agent\n",
		"roles/install/tasks/main.yml": "- debug: msg=from-playbook-roles\n",
	})
	t.Setenv("ANSIBLE_COLLECTIONS_PATH", colls)
	pb, err := (&Loader{}).Load(filepath.Join(pbDir, "pb.yml"))
	if err != nil {
		t.Fatal(err)
	}
	role := pb.Plays[0].Roles[0]
	if want := filepath.Join(colls, "ansible_collections/acme/tools/roles/agent"); role.Role == nil || role.Role.Path != want {
		t.Fatalf("role = %+v, want path %s", role.Role, want)
	}
	inc := role.Include[0]
	if inc.Role == nil || !strings.HasSuffix(inc.Role.Path, "acme/tools/roles/install") {
		t.Fatalf("include_role install resolved to %+v, want the collection's own role", inc.Role)
	}
}

func TestCollectionRoleNotFoundSaysWhere(t *testing.T) {
	dir := write(t, map[string]string{"pb.yml": "- hosts: all\n  roles:\n    - acme.tools.missing\n"})
	t.Setenv("ANSIBLE_COLLECTIONS_PATH", dir)
	_, err := (&Loader{}).Load(filepath.Join(dir, "pb.yml"))
	want := "pb.yml:3: role acme.tools.missing not found in the collections under " + filepath.Join(dir, "ansible_collections")
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v\nwant it to contain %q", err, want)
	}
}

// Collections installed beside the playbook (collections/ansible_collections)
// are searched first, as ansible-core does.
func TestCollectionBesideThePlaybook(t *testing.T) {
	elsewhere := write(t, map[string]string{
		"ansible_collections/acme/tools/roles/agent/tasks/main.yml": "- debug: msg=elsewhere\n",
	})
	pbDir := write(t, map[string]string{
		"pb.yml": "- hosts: all\n  roles:\n    - role: acme.tools.agent\n",
		"collections/ansible_collections/acme/tools/roles/agent/tasks/main.yml": "- debug: msg=beside\n",
	})
	t.Setenv("ANSIBLE_COLLECTIONS_PATH", elsewhere)
	pb, err := (&Loader{}).Load(filepath.Join(pbDir, "pb.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(pbDir, "collections/ansible_collections/acme/tools/roles/agent"); pb.Plays[0].Roles[0].Role.Path != want {
		t.Fatalf("role from %s, want %s", pb.Plays[0].Roles[0].Role.Path, want)
	}
}

// roles_path of the ansible.cfg in the working directory is read relative to
// that file, as k3s-ansible's layout needs: ansible.cfg and roles/ at the top,
// the playbooks in playbooks/, run from the top.
func TestRolesPathFromWorkingDirectoryConfig(t *testing.T) {
	dir := write(t, map[string]string{
		"ansible.cfg":                 "[defaults]\nroles_path = ./roles\n",
		"playbooks/site.yml":          "- hosts: all\n  roles:\n    - role: prereq\n",
		"roles/prereq/tasks/main.yml": "- debug: msg=prereq\n",
	})
	t.Setenv("ANSIBLE_ROLES_PATH", "")
	os.Unsetenv("ANSIBLE_ROLES_PATH")
	os.Unsetenv("ANSIBLE_CONFIG")
	t.Chdir(dir)
	pb, err := (&Loader{}).Load("playbooks/site.yml")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "roles/prereq"); pb.Plays[0].Roles[0].Role.Path != want {
		t.Fatalf("role from %s, want %s", pb.Plays[0].Roles[0].Role.Path, want)
	}
}
