package generic

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"strings"

	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:    "copy",
		Summary: "Write a file on the host from inline content or a file on the controller",
		CheckMode: "Reads the destination and reports a unified diff of its contents (or a summary for binary " +
			"data) and any mode/owner/group change. Writes nothing.",
		Example: `- name: Configure containerd's registry mirror
  copy:
    dest: /etc/containerd/certs.d/docker.io/hosts.toml
    content: |
      server = "https://registry-1.docker.io"
    mode: "0644"
    backup: true`,
		New: func() modules.Module { return &Copy{} },
	})
}

// Copy writes a whole file.
type Copy struct {
	Src         string  `yaml:"src" doc:"file or directory on the controller to copy; a relative path is looked up in files/ next to the playbook, then next to it. A directory is copied recursively: with a trailing / its contents go into dest, without it the directory itself"`
	Content     *string `yaml:"content" doc:"the file's contents, instead of src"`
	Dest        string  `yaml:"dest" required:"true" doc:"absolute path on the host; when it ends in / or is a directory, the file keeps src's name inside it"`
	Attrs       `yaml:",squash"`
	Backup      bool   `yaml:"backup" doc:"keep a timestamped copy (dest.YYYY-MM-DD@HH:MM:SS.ffffff~) of the file being replaced"`
	Force       bool   `yaml:"force" default:"true" doc:"replace a file whose contents differ; false only creates missing files"`
	RemoteSrc   bool   `yaml:"remote_src" doc:"src is a file on the host rather than on the controller"`
	DirMode     Mode   `yaml:"directory_mode" doc:"mode of directories created when src is a directory (default 0755)"`
	ValidateCmd string `yaml:"validate" doc:"command that checks the new file before it replaces dest; %s is its path (e.g. visudo -cf %s)"`

	dest, backupFile string
}

func (m *Copy) Validate() error {
	if (m.Src == "") == (m.Content == nil) {
		return errors.New("give exactly one of src and content")
	}
	if m.RemoteSrc && m.Src == "" {
		return errors.New("remote_src needs src")
	}
	if m.RemoteSrc && !path.IsAbs(m.Src) && !isHomePath(m.Src) {
		return fmt.Errorf("src %q must be absolute with remote_src", m.Src)
	}
	if err := absPath("dest", m.Dest); err != nil {
		return err
	}
	if m.Content != nil && strings.HasSuffix(m.Dest, "/") {
		return fmt.Errorf("dest %q is a directory; content needs a file name", m.Dest)
	}
	if err := validateValidate(m.ValidateCmd); err != nil {
		return err
	}
	if err := m.DirMode.Validate(); err != nil {
		return err
	}
	return m.Attrs.validate()
}

func (m *Copy) Reads() []string { return []string{strings.TrimSuffix(m.Dest, "/")} }

func (m *Copy) Result() map[string]any { return fileResult("dest", m.dest, m.backupFile) }

func (m *Copy) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	if err := expandHome(ctx, h, &m.Dest, remoteSrc(m.RemoteSrc, &m.Src)); err != nil {
		return plan.Diff{}, err
	}
	var d plan.Diff
	local := ""
	if m.Content == nil && !m.RemoteSrc {
		p, isDir, err := findLocal(ctx, h, "files", m.Src, true)
		if err != nil {
			return d, err
		}
		if isDir {
			return m.checkDir(ctx, h, p)
		}
		local = p
	}
	want, name, err := m.source(ctx, h, local)
	if err != nil {
		return d, err
	}
	dest, err := m.target(ctx, h, name)
	if err != nil {
		return d, err
	}
	cur, fi, exists, err := readFile(ctx, h, dest)
	if err != nil {
		return d, err
	}
	if exists && !m.Force {
		// Ansible's force: false leaves an existing file's contents alone
		// but still manages its attributes.
		want = cur
	}
	cp, err := planContent(ctx, h, "file:"+dest, dest, cur, fi, exists, want, m.Attrs, &d)
	if err != nil {
		return d, err
	}
	d.State = cp
	m.dest = dest
	return d, nil
}

func (m *Copy) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	if d.Empty() {
		return nil // Check found nothing to do
	}
	if dp, ok := d.State.(*copyDirPlan); ok {
		return dp.apply(ctx, h, m)
	}
	cp, err := modules.StateOf[*contentPlan](h, "copy", d)
	if err != nil {
		return err
	}
	m.backupFile, err = cp.apply(ctx, h, writeOpts{backup: m.Backup, validate: m.ValidateCmd})
	return err
}

// source returns the bytes to write and src's base name; local is src
// found on the controller.
func (m *Copy) source(ctx context.Context, h modules.Host, local string) ([]byte, string, error) {
	if m.Content != nil {
		return []byte(*m.Content), "", nil
	}
	if m.RemoteSrc {
		b, _, ok, err := readFile(ctx, h, m.Src)
		if err == nil && !ok {
			err = fmt.Errorf("src %s does not exist on the host", m.Src)
		}
		return b, path.Base(m.Src), err
	}
	b, err := h.Local().ReadFile(ctx, local)
	if err != nil {
		return nil, "", fmt.Errorf("read src %s on the controller: %w", local, err)
	}
	return b, filepath.Base(local), nil
}

// target puts the file inside dest when dest names a directory.
func (m *Copy) target(ctx context.Context, h modules.Host, name string) (string, error) {
	if strings.HasSuffix(m.Dest, "/") {
		return path.Join(m.Dest, name), nil
	}
	fi, ok, err := stat(ctx, h, m.Dest)
	if err != nil {
		return "", err
	}
	if ok && fi.IsDir() {
		if name == "" {
			return "", fmt.Errorf("dest %s is a directory; content needs a file name", m.Dest)
		}
		return path.Join(m.Dest, name), nil
	}
	return m.Dest, nil
}

// findLocal resolves a controller path the way Ansible searches: a
// relative name is tried under sub/ and directly in the role and playbook
// directories, then as given.
func findLocal(ctx context.Context, h modules.Host, sub, name string, allowDir bool) (string, bool, error) {
	var tried []string
	isDir := false
	try := func(p string) (bool, error) {
		tried = append(tried, p)
		fi, err := h.Local().Stat(ctx, p)
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("src %s: %w", p, err)
		}
		if fi.IsDir() && !allowDir {
			return false, fmt.Errorf("src %s is a directory", p)
		}
		isDir = fi.IsDir()
		return true, nil
	}
	if !filepath.IsAbs(name) {
		for _, key := range []string{"role_path", "playbook_dir"} {
			base, _ := h.Vars()[key].(string)
			if base == "" {
				continue
			}
			for _, p := range []string{filepath.Join(base, sub, name), filepath.Join(base, name)} {
				if ok, err := try(p); ok || err != nil {
					return p, isDir, err
				}
			}
		}
	}
	if ok, err := try(name); ok || err != nil {
		return name, isDir, err
	}
	return "", false, fmt.Errorf("src %s not found on the controller (tried %s)", name, strings.Join(tried, ", "))
}

var (
	_ modules.Module   = (*Copy)(nil)
	_ modules.Reader   = (*Copy)(nil)
	_ modules.Resulter = (*Copy)(nil)
)
