package playbooks

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// splitFQCN reads a role name of the form namespace.collection.role.
func splitFQCN(name string) (ns, coll, role string, ok bool) {
	parts := strings.Split(name, ".")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return "", "", "", false
	}
	return parts[0], parts[1], parts[2], true
}

// collectionRolesDir is the roles/ directory of the collection that file
// belongs to, or "" when file is not inside a collection's role.
func collectionRolesDir(file string) string {
	root, rest, ok := inCollection(file) // ns, coll, "roles", role, ...
	if !ok || len(rest) < 4 || rest[2] != "roles" {
		return ""
	}
	return filepath.Join(root, filepath.FromSlash(strings.Join(rest[:3], "/")))
}

// inCollection splits a path inside an ansible_collections directory into
// that directory and the path's elements below it.
func inCollection(file string) (root string, rest []string, ok bool) {
	const marker = "/ansible_collections/"
	slash := filepath.ToSlash(file)
	i := strings.LastIndex(slash, marker)
	if i < 0 {
		return "", nil, false
	}
	return filepath.FromSlash(slash[:i+len(marker)-1]), strings.Split(slash[i+len(marker):], "/"), true
}

// findCollectionRole looks for ns.coll.role in every collections path, in
// Ansible's order.
func (l *Loader) findCollectionRole(base, ns, coll, role string) (string, error) {
	var tried []string
	for _, root := range l.collectionsPaths(base) {
		dir := filepath.Join(root, ns, coll, "roles", role)
		if l.isRole(dir) {
			return dir, nil
		}
		tried = append(tried, root)
	}
	return "", fmt.Errorf("role %s.%s.%s not found in the collections under %s (install the collection with ansible-galaxy, or set ANSIBLE_COLLECTIONS_PATH)",
		ns, coll, role, strings.Join(tried, ", "))
}

// collectionsPaths are the ansible_collections directories Ansible searches:
// ANSIBLE_COLLECTIONS_PATH (or ansible.cfg's collections_path), by default
// ~/.ansible/collections and /usr/share/ansible/collections, then Python's
// site directories, where distribution packages such as Debian's ansible
// install collections.
func (l *Loader) collectionsPaths(base string) []string {
	var out []string
	add := func(p string) {
		if filepath.Base(p) != "ansible_collections" {
			p = filepath.Join(p, "ansible_collections")
		}
		out = append(out, p)
	}
	// Collections installed beside the playbook (ansible-galaxy install -p
	// collections) come first, as in ansible-core; named only when there.
	if st, err := os.Stat(filepath.Join(base, "collections", "ansible_collections")); err == nil && st.IsDir() {
		add(filepath.Join(base, "collections"))
	}
	for _, p := range l.config(base).PathList(
		[]string{"ANSIBLE_COLLECTIONS_PATH", "ANSIBLE_COLLECTIONS_PATHS"},
		[]string{"collections_path", "collections_paths"},
		"~/.ansible/collections:/usr/share/ansible/collections") {
		add(p)
	}
	site, _ := filepath.Glob("/usr/local/lib/python3*/dist-packages")
	for _, p := range append(site, "/usr/lib/python3/dist-packages") {
		add(p)
	}
	return out
}
