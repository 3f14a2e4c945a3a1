package cli

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// retryFileConfig is Ansible's retry file setting: off by default (as in
// ansible-core 2.8 and later), on with retry_files_enabled in ansible.cfg's
// [defaults] or ANSIBLE_RETRY_FILES_ENABLED; retry_files_save_path
// (ANSIBLE_RETRY_FILES_SAVE_PATH) moves the file away from the playbook.
type retryFileConfig struct {
	enabled bool
	saveDir string // "" means beside the playbook
}

// loadRetryFileConfig reads the settings as Ansible does: the environment
// wins over the first ansible.cfg found in ANSIBLE_CONFIG, the working
// directory, the playbook's directory (where gpuctl also reads roles_path),
// ~/.ansible.cfg and /etc/ansible/ansible.cfg.
func loadRetryFileConfig(playbookDir string) retryFileConfig {
	cfgFile, cfg := findAnsibleCfg(playbookDir)
	get := func(env, key string) (string, string) {
		if v, ok := os.LookupEnv(env); ok {
			wd, _ := os.Getwd()
			return v, wd
		}
		return cfg[key], filepath.Dir(cfgFile)
	}
	var rc retryFileConfig
	v, _ := get("ANSIBLE_RETRY_FILES_ENABLED", "retry_files_enabled")
	rc.enabled = ansibleBool(v)
	if dir, base := get("ANSIBLE_RETRY_FILES_SAVE_PATH", "retry_files_save_path"); dir != "" {
		rc.saveDir = resolvePath(dir, base)
	}
	return rc
}

// path is where Ansible writes the retry file of playbook: NAME.retry
// (the playbook's name without its extension) in the save directory,
// beside the playbook, or in the home directory for a bundled playbook.
func (rc retryFileConfig) path(playbook string, bundled bool) string {
	dir := rc.saveDir
	if dir == "" {
		if abs, err := filepath.Abs(playbook); err == nil && !bundled {
			dir = filepath.Dir(abs)
		} else {
			dir, _ = os.UserHomeDir()
		}
	}
	name := filepath.Base(playbook)
	return filepath.Join(dir, strings.TrimSuffix(name, filepath.Ext(name))+".retry")
}

// writeRetryFile writes one host a line, atomically: a run killed while
// writing leaves the old file or the new one, never half of either.
func writeRetryFile(path string, hosts []string) error {
	var b strings.Builder
	for _, h := range hosts {
		b.WriteString(h + "\n")
	}
	return writeFileAtomic(path, []byte(b.String()), 0o644)
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // fails harmlessly after the rename
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), mode)
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// findAnsibleCfg returns the first ansible.cfg found and its [defaults].
func findAnsibleCfg(playbookDir string) (string, map[string]string) {
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
		if data, err := os.ReadFile(p); err == nil {
			abs, _ := filepath.Abs(p)
			return abs, iniSection(data, "defaults")
		}
	}
	return "", nil
}

// iniSection reads the keys of one section of an INI file such as
// ansible.cfg; # and ; start comments.
func iniSection(data []byte, section string) map[string]string {
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

// ansibleBool is Ansible's boolean(): yes, on, true, t, y, 1 are true.
func ansibleBool(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "y", "yes", "on", "1", "true", "t":
		return true
	}
	return false
}

// resolvePath expands ~ and makes p absolute against base, as Ansible
// resolves path settings against the directory of the file that sets them.
func resolvePath(p, base string) string {
	if rest, ok := strings.CutPrefix(p, "~"); ok && (rest == "" || rest[0] == '/') {
		home, _ := os.UserHomeDir()
		p = home + rest
	}
	if !filepath.IsAbs(p) && base != "" {
		p = filepath.Join(base, p)
	}
	return filepath.Clean(p)
}
