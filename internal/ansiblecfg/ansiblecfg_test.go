package ansiblecfg

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The search order is ansible-core's (ANSIBLE_CONFIG, then the working
// directory), with the playbook's directory after the working directory.
func TestFindOrder(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("HOME", filepath.Join(dir, "home"))
	t.Setenv("ANSIBLE_CONFIG", "")
	os.Unsetenv("ANSIBLE_CONFIG")
	write(t, filepath.Join(dir, "proj/ansible.cfg"), "[defaults]\nroles_path = ./roles ; inline comment\n")
	write(t, filepath.Join(dir, "proj/playbooks/ansible.cfg"), "[defaults]\nroles_path = beside\n")
	write(t, filepath.Join(dir, "other/ansible.cfg"), "# comment\n[ssh_connection]\nroles_path = no\n[defaults]\nretry_files_enabled = yes\n")
	t.Chdir(filepath.Join(dir, "proj"))

	c := Find(filepath.Join(dir, "proj/playbooks"))
	if c.Path != filepath.Join(dir, "proj/ansible.cfg") {
		t.Fatalf("working directory first: got %q", c.Path)
	}
	// roles_path = ./roles in proj/ansible.cfg is proj/roles, wherever the playbook is.
	if got := c.PathList([]string{"ANSIBLE_ROLES_PATH"}, []string{"roles_path"}, ""); !reflect.DeepEqual(got, []string{filepath.Join(dir, "proj/roles")}) {
		t.Errorf("roles_path: %v", got)
	}

	t.Chdir(dir)
	if c := Find(filepath.Join(dir, "proj/playbooks")); c.Path != filepath.Join(dir, "proj/playbooks/ansible.cfg") {
		t.Errorf("beside the playbook when the working directory has none: got %q", c.Path)
	}

	// ANSIBLE_CONFIG names a directory or a file, and wins.
	t.Setenv("ANSIBLE_CONFIG", filepath.Join(dir, "other"))
	c = Find(filepath.Join(dir, "proj/playbooks"))
	if c.Path != filepath.Join(dir, "other/ansible.cfg") {
		t.Fatalf("ANSIBLE_CONFIG: got %q", c.Path)
	}
	if v, _, ok := c.Value(nil, []string{"roles_path"}); ok {
		t.Errorf("a key of another section read as [defaults]: %q", v)
	}
	if v, _, _ := c.Value([]string{"ANSIBLE_RETRY_FILES_ENABLED"}, []string{"retry_files_enabled"}); !Bool(v) {
		t.Errorf("retry_files_enabled = %q", v)
	}

	t.Setenv("ANSIBLE_CONFIG", filepath.Join(dir, "missing.cfg"))
	t.Setenv("HOME", filepath.Join(dir, "proj"))
	write(t, filepath.Join(dir, "proj/.ansible.cfg"), "[defaults]\n")
	if c := Find(""); c.Path != filepath.Join(dir, "proj/.ansible.cfg") {
		t.Errorf("~/.ansible.cfg after a missing ANSIBLE_CONFIG: got %q", c.Path)
	}
}

// The environment wins over the file, and its relative paths are the
// working directory's; ~ is the home directory; an unset setting takes
// the fallback.
func TestPathList(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("HOME", "/home/u")
	write(t, filepath.Join(dir, "ansible.cfg"), "[defaults]\ncollections_paths = ~/c:rel/c\n")
	t.Chdir(dir)
	c := Find("")
	envs, keys := []string{"ANSIBLE_COLLECTIONS_PATH", "ANSIBLE_COLLECTIONS_PATHS"}, []string{"collections_path", "collections_paths"}
	if got, want := c.PathList(envs, keys, "/fallback"), []string{"/home/u/c", filepath.Join(dir, "rel/c")}; !reflect.DeepEqual(got, want) {
		t.Errorf("from the file: %v, want %v", got, want)
	}
	t.Setenv("ANSIBLE_COLLECTIONS_PATHS", "env/c::/abs")
	if got, want := c.PathList(envs, keys, "/fallback"), []string{filepath.Join(dir, "env/c"), "/abs"}; !reflect.DeepEqual(got, want) {
		t.Errorf("from the environment: %v, want %v", got, want)
	}
	if got, want := (Config{}).PathList([]string{"GPUCTL_UNSET_VAR"}, keys, "~/.ansible/roles:/etc/ansible/roles"), []string{"/home/u/.ansible/roles", "/etc/ansible/roles"}; !reflect.DeepEqual(got, want) {
		t.Errorf("fallback: %v, want %v", got, want)
	}
}

func TestResolvePathExpandsVariables(t *testing.T) {
	t.Setenv("HOME", "/home/u")
	t.Setenv("GPUCTL_CFG_VENV", "/venv")
	os.Unsetenv("GPUCTL_CFG_UNSET")
	for in, want := range map[string]string{
		"$GPUCTL_CFG_VENV/share/roles":  "/venv/share/roles",
		"${GPUCTL_CFG_VENV}/roles":      "/venv/roles",
		"$GPUCTL_CFG_UNSET/share/roles": "/base/$GPUCTL_CFG_UNSET/share/roles",
		"${GPUCTL_CFG_UNSET}/share":     "/base/${GPUCTL_CFG_UNSET}/share",
		"~/roles":                       "/home/u/roles",
		"~other/roles":                  "/base/~other/roles",
		"roles":                         "/base/roles",
	} {
		if got := ResolvePath(in, "/base"); got != want {
			t.Errorf("ResolvePath(%q) = %q, want %q", in, got, want)
		}
	}
}
