package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gpuctl/gpuctl/internal/ansiblecfg"
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
	cfg := ansiblecfg.Find(playbookDir)
	var rc retryFileConfig
	v, _, _ := cfg.Value([]string{"ANSIBLE_RETRY_FILES_ENABLED"}, []string{"retry_files_enabled"})
	rc.enabled = ansiblecfg.Bool(v)
	if dir, base, _ := cfg.Value([]string{"ANSIBLE_RETRY_FILES_SAVE_PATH"}, []string{"retry_files_save_path"}); dir != "" {
		rc.saveDir = ansiblecfg.ResolvePath(dir, base)
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
