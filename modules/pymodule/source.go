// Package pymodule runs Ansible's own Python modules, the ones gpuctl has no
// Go module for: a role's or playbook's library/ modules (kubespray's kube)
// and the modules of installed collections (community.mongodb's
// mongodb_user). It does what ansible-core's AnsiballZ does: the module, the
// module_utils it imports and ansible-core's module_utils go to the host in
// one zip, which the host's python3 runs with the task's arguments on stdin
// and answers in JSON. gpuctl's Go modules always win over a Python module
// of the same name; this is the fallback that lets content written for
// Ansible run unchanged.
package pymodule

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
)

// Source is one Python module found on the controller.
type Source struct {
	// Path is the module's file.
	Path string
	// Collection is "ns.coll" for a collection's module, "" for a library/
	// module or one of ansible-core's.
	Collection string
	// CollectionsRoot is the ansible_collections directory holding
	// Collection, where the modules' module_utils are found.
	CollectionsRoot string
	// ModuleUtils are directories of custom module_utils (module_utils/
	// beside the playbook or in a role) that a library/ module imports as
	// ansible.module_utils.<name>.
	ModuleUtils []string
	// Core is ansible-core's package directory on the controller (the
	// directory holding module_utils/basic.py's module_utils).
	Core string
	// Builtin marks one of ansible-core's own modules (ansible/modules).
	Builtin bool
	// ControllerArgs are arguments the collection's action plugin reads on
	// the controller (kubernetes.core's template): a task that gives one is
	// refused, the others run the module as the action plugin would.
	ControllerArgs []string
	// Windows marks a PowerShell module (Path is its .ps1): it loads, for
	// the Windows branches of roles, and fails on a host that reaches it.
	Windows bool

	once   sync.Once
	bundle []byte
	sha    string
	err    error
}

// FQN is the module's Python name inside the bundle.
func (s *Source) FQN() string {
	base := strings.TrimSuffix(filepath.Base(s.Path), ".py")
	switch {
	case s.Collection != "":
		ns, coll, _ := strings.Cut(s.Collection, ".")
		return "ansible_collections." + ns + "." + coll + ".plugins.modules." + base
	case s.Builtin:
		return "ansible.modules." + base
	}
	return "ansible.legacy." + base
}

// newStyle is how ansible-core recognises a module it can ship with
// AnsiballZ: it imports AnsibleModule's module_utils.
var newStyle = regexp.MustCompile(`(?m)^\s*(from\s+ansible(_collections\.\w+\.\w+\.plugins)?\.module_utils|import\s+ansible\.module_utils|from\s+\.\.module_utils)`)

// CheckFile refuses a file gpuctl cannot run as a Python module: a
// PowerShell module, a binary, an old-style or WANT_JSON script. It reads
// the file once; the error says what the file is.
func CheckFile(path string) error {
	if strings.HasSuffix(path, ".ps1") {
		return fmt.Errorf("%s is a PowerShell module (Windows); gpuctl manages Debian and Ubuntu", path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if bytes.IndexByte(b[:min(len(b), 8000)], 0) >= 0 {
		return fmt.Errorf("%s is a binary module; gpuctl runs Python modules that use AnsibleModule", path)
	}
	if !newStyle.Match(b) {
		return fmt.Errorf("%s does not import ansible.module_utils (an old-style or WANT_JSON module); gpuctl runs Python modules that use AnsibleModule", path)
	}
	return nil
}

// FindCore returns ansible-core's package directory on this machine: the
// module_utils every Python module imports come from there, as they come
// from ansible-core's own install when ansible-playbook ships a module.
// dirs are extra site directories to look in first (a virtualenv's).
func FindCore(dirs ...string) (string, error) {
	var cands []string
	add := func(globs ...string) {
		for _, g := range globs {
			m, _ := filepath.Glob(g)
			cands = append(cands, m...)
		}
	}
	for _, d := range dirs {
		add(d)
	}
	if v := os.Getenv("VIRTUAL_ENV"); v != "" {
		add(filepath.Join(v, "lib", "python3*", "site-packages"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		add(filepath.Join(home, ".local", "lib", "python3*", "site-packages"))
	}
	add("/usr/local/lib/python3*/dist-packages", "/usr/local/lib/python3*/site-packages",
		"/usr/lib/python3/dist-packages", "/usr/lib/python3*/site-packages")
	for _, c := range cands {
		p := filepath.Join(c, "ansible")
		if _, err := os.Stat(filepath.Join(p, "module_utils", "basic.py")); err == nil {
			return p, nil
		}
	}
	return "", errors.New("ansible-core's module_utils were not found on this machine (looked in the Python site directories: " +
		strings.Join(cands, ", ") + "); install ansible-core (apt install ansible-core, or pip install ansible-core)")
}

// ActionPlugin returns the controller-side action plugin a module of a
// collection has, or "": ansible-core runs such a module through Python on
// the controller first (it may copy files, template, talk to the API), which
// gpuctl cannot do.
func ActionPlugin(collectionsRoot, collection, name string) string {
	ns, coll, _ := strings.Cut(collection, ".")
	p := filepath.Join(collectionsRoot, ns, coll, "plugins", "action", name+".py")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return ""
}
