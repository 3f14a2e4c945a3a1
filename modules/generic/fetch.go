package generic

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:    "fetch",
		Summary: "Copy a file from the host to the machine gpuctl runs on",
		CheckMode: "Reads the host's file and the local copy and reports the local file that would be created or " +
			"changed (a unified diff for text). Writes nothing.",
		Example: `- name: Keep the admin kubeconfig
  fetch:
    src: /etc/kubernetes/admin.conf
    dest: artifacts/
  # writes artifacts/HOST/etc/kubernetes/admin.conf`,
		New: func() modules.Module { return &Fetch{} },
	})
}

// Fetch is Ansible's fetch: dest/HOST/SRC, or with flat dest itself.
type Fetch struct {
	Src              string `yaml:"src" required:"true" doc:"absolute path of the file on the host"`
	Dest             string `yaml:"dest" required:"true" doc:"local directory (files land in DEST/HOST/SRC), or with flat the file (a trailing / puts the file's base name in it); relative to the playbook's directory"`
	Flat             bool   `yaml:"flat" doc:"use dest as the file name instead of DEST/HOST/SRC"`
	FailOnMissing    bool   `yaml:"fail_on_missing" default:"true" doc:"fail when src does not exist; false only reports it"`
	ValidateChecksum bool   `yaml:"validate_checksum" default:"true" doc:"check the local copy against the host's file after writing"`

	local  string
	result map[string]any
}

func (m *Fetch) Validate() error {
	if err := absPath("src", m.Src); err != nil {
		return err
	}
	if m.Dest == "" {
		return errors.New(`missing required argument "dest"`)
	}
	return nil
}

func (m *Fetch) Reads() []string { return []string{m.Src} }

func (m *Fetch) Result() map[string]any { return m.result }

// localPath is where the copy goes on this machine.
func (m *Fetch) localPath(h modules.Host) string {
	dest := m.Dest
	if !filepath.IsAbs(dest) {
		if base, _ := h.Vars()["playbook_dir"].(string); base != "" {
			dest = filepath.Join(base, dest)
		}
	}
	switch {
	case m.Flat && strings.HasSuffix(m.Dest, "/"):
		return filepath.Join(dest, path.Base(m.Src))
	case m.Flat:
		return dest
	}
	host := h.Name()
	if ih, _ := h.Vars()["inventory_hostname"].(string); ih != "" {
		host = ih
	}
	return filepath.Join(dest, host, filepath.FromSlash(m.Src))
}

func (m *Fetch) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	if err := expandHome(ctx, h, &m.Src); err != nil {
		return plan.Diff{}, err
	}
	var d plan.Diff
	m.local = m.localPath(h)
	m.result = map[string]any{"file": m.Src, "dest": m.local}
	data, _, exists, err := readFile(ctx, h, m.Src)
	if err != nil {
		return d, err
	}
	if !exists {
		msg := "the remote file does not exist, not transferring, ignored"
		if m.FailOnMissing {
			return d, fmt.Errorf("fetch %s: the remote file does not exist", m.Src)
		}
		m.result["msg"] = msg
		return d, nil
	}
	remote := hexSum("sha1", data)
	m.result["checksum"], m.result["remote_checksum"] = remote, remote
	m.result["md5sum"], m.result["remote_md5sum"] = fmt.Sprintf("%x", md5.Sum(data)), fmt.Sprintf("%x", md5.Sum(data))
	cur, err := h.Local().ReadFile(ctx, m.local)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		d.Add(contentChange("local:"+m.local, plan.Create, nil, data))
	case err != nil:
		return d, fmt.Errorf("read %s: %w", m.local, err)
	case !bytes.Equal(cur, data):
		d.Add(contentChange("local:"+m.local, plan.Update, cur, data))
	}
	d.State = data
	return d, nil
}

func (m *Fetch) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	if d.Empty() {
		return nil // the local copy is up to date
	}
	data, err := modules.StateOf[[]byte](h, "fetch", d)
	if err != nil {
		return err
	}
	if _, err := conn.Output(ctx, h.Local(), conn.Join("mkdir", "-p", "--", filepath.Dir(m.local))); err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	if err := h.Local().WriteFile(ctx, m.local, data, conn.FileAttrs{Mode: 0o644}); err != nil {
		return fmt.Errorf("fetch: write %s: %w", m.local, err)
	}
	if m.ValidateChecksum {
		back, err := h.Local().ReadFile(ctx, m.local)
		if err != nil || !bytes.Equal(back, data) {
			return fmt.Errorf("fetch: checksum mismatch: the local copy %s differs from %s (%v)", m.local, m.Src, err)
		}
	}
	return nil
}

var (
	_ modules.Module   = (*Fetch)(nil)
	_ modules.Reader   = (*Fetch)(nil)
	_ modules.Resulter = (*Fetch)(nil)
)
