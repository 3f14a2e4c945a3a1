// Package ansiblecfg finds and reads ansible.cfg the way ansible-core does,
// so that one search order and one path rule serve every setting gpuctl
// honours (roles_path, collections_path, the retry file settings).
package ansiblecfg

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
)

// Config is the [defaults] section of the first ansible.cfg found.
type Config struct {
	// Path is the file read, absolute; "" when none was found.
	Path     string
	defaults map[string]string
}

// Find returns the first ansible.cfg of ansible-core's search order:
// ANSIBLE_CONFIG (a file, or a directory holding ansible.cfg), the working
// directory, ~/.ansible.cfg, /etc/ansible/ansible.cfg. gpuctl also looks
// beside the playbook, after the working directory, so a project that keeps
// its ansible.cfg next to site.yml works from any directory; ansible-core
// would read that file only when run from there.
func Find(playbookDir string) Config {
	var candidates []string
	if p := os.Getenv("ANSIBLE_CONFIG"); p != "" {
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			p = filepath.Join(p, "ansible.cfg")
		}
		candidates = append(candidates, p)
	}
	candidates = append(candidates, "ansible.cfg")
	if playbookDir != "" {
		candidates = append(candidates, filepath.Join(playbookDir, "ansible.cfg"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		candidates = append(candidates, filepath.Join(home, ".ansible.cfg"))
	}
	candidates = append(candidates, "/etc/ansible/ansible.cfg")
	for _, p := range candidates {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			abs = p
		}
		return Config{Path: abs, defaults: Section(data, "defaults")}
	}
	return Config{}
}

// Value is a [defaults] setting with the environment first, as Ansible reads
// it: the first variable of envs that is set wins, then the first key of
// keys present in the file. base is the directory relative paths in the
// value are resolved against: the working directory for an environment
// variable, the file's directory for the file.
func (c Config) Value(envs, keys []string) (value, base string, ok bool) {
	for _, env := range envs {
		if v, set := os.LookupEnv(env); set {
			wd, _ := os.Getwd()
			return v, wd, true
		}
	}
	for _, k := range keys {
		if v, set := c.defaults[k]; set {
			return v, filepath.Dir(c.Path), true
		}
	}
	return "", "", false
}

// PathList is a pathspec setting (roles_path, collections_path): a
// colon-separated list, each entry with ~ expanded and made absolute
// against the directory of whoever set it. fallback, also a pathspec,
// applies when neither the environment nor the file sets it.
func (c Config) PathList(envs, keys []string, fallback string) []string {
	v, base, ok := c.Value(envs, keys)
	if !ok {
		v, base = fallback, ""
	}
	var out []string
	for _, p := range filepath.SplitList(v) {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, ResolvePath(p, base))
		}
	}
	return out
}

// ResolvePath expands environment variables and ~ and makes p absolute
// against base, as Ansible resolves path settings against the directory of
// the file that sets them. An unset variable stays as written, as Python's
// os.path.expandvars leaves it (kubespray's roles_path names
// $VIRTUAL_ENV/...).
func ResolvePath(p, base string) string {
	p = os.Expand(p, func(name string) string {
		if v, ok := os.LookupEnv(name); ok {
			return v
		}
		if strings.ContainsAny(p, "{}") && strings.Contains(p, "${"+name+"}") {
			return "${" + name + "}"
		}
		return "$" + name
	})
	if rest, ok := strings.CutPrefix(p, "~"); ok && (rest == "" || rest[0] == '/') {
		home, _ := os.UserHomeDir()
		p = home + rest
	}
	if !filepath.IsAbs(p) && base != "" {
		p = filepath.Join(base, p)
	}
	return filepath.Clean(p)
}

// Bool is Ansible's boolean(): yes, on, true, t, y, 1 are true.
func Bool(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "y", "yes", "on", "1", "true", "t":
		return true
	}
	return false
}

// Section reads the keys of one section of an INI file such as ansible.cfg;
// # and ; start comment lines, and " ;" an inline comment.
func Section(data []byte, section string) map[string]string {
	out := map[string]string{}
	cur := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && strings.HasSuffix(line, "]"):
			cur = strings.TrimSpace(line[1 : len(line)-1])
		case cur == section:
			if k, v, ok := strings.Cut(line, "="); ok {
				if i := strings.Index(v, " ;"); i >= 0 {
					v = v[:i]
				}
				out[strings.TrimSpace(k)] = strings.TrimSpace(v)
			}
		}
	}
	return out
}
