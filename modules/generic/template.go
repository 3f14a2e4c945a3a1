package generic

import (
	"context"
	"fmt"
	"path"
	"path/filepath"
	"strings"

	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:    "template",
		Summary: "Render a Jinja2 template from the controller into a file on the host",
		CheckMode: "Renders the template with the host's variables, reads the destination and reports a unified " +
			"diff and any mode/owner/group change. Writes nothing.",
		Example: `- name: kubeadm configuration
  template:
    src: kubeadm.yaml.j2
    dest: /etc/kubernetes/kubeadm.yaml
    mode: "0600"`,
		New: func() modules.Module { return &Template{} },
	})
}

// Template renders src with the host's variables and writes the result.
type Template struct {
	Src         string `yaml:"src" required:"true" doc:"Jinja2 template on the controller; a relative path is looked up in templates/ next to the playbook, then next to the playbook"`
	Dest        string `yaml:"dest" required:"true" doc:"absolute path on the host; when it ends in / or is a directory, the file takes src's name without .j2"`
	Attrs       `yaml:",squash"`
	Backup      bool   `yaml:"backup" doc:"keep a timestamped copy (dest.YYYY-MM-DD@HH:MM:SS.ffffff~) of the file being replaced"`
	Force       bool   `yaml:"force" default:"true" doc:"replace a file whose contents differ; false only creates missing files"`
	ValidateCmd string `yaml:"validate" doc:"command that checks the new file before it replaces dest; %s is its path"`

	dest, backupFile string
}

func (m *Template) Validate() error {
	if err := absPath("dest", m.Dest); err != nil {
		return err
	}
	if err := validateValidate(m.ValidateCmd); err != nil {
		return err
	}
	return m.Attrs.validate()
}

func (m *Template) Reads() []string { return []string{strings.TrimSuffix(m.Dest, "/")} }

func (m *Template) Result() map[string]any { return fileResult("dest", m.dest, m.backupFile) }

func (m *Template) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	if err := expandHome(ctx, h, &m.Dest); err != nil {
		return plan.Diff{}, err
	}
	var d plan.Diff
	src, _, err := findLocal(ctx, h, "templates", m.Src, false)
	if err != nil {
		return d, err
	}
	tpl, err := h.Local().ReadFile(ctx, src)
	if err != nil {
		return d, fmt.Errorf("read template %s: %w", src, err)
	}
	if p, ok := h.(modules.PendingRefs); ok {
		if why := p.PendingRefs(string(tpl)); why != "" {
			return d, modules.NotYet("template %s %s", src, why)
		}
	}
	out, err := h.Render(string(tpl))
	if err != nil {
		return d, fmt.Errorf("render template %s: %w", src, err)
	}
	// Ansible keeps a template's final newline; Jinja2 engines drop it
	// by default.
	if strings.HasSuffix(string(tpl), "\n") && !strings.HasSuffix(out, "\n") {
		out += "\n"
	}
	dest := m.Dest
	name := strings.TrimSuffix(filepath.Base(src), ".j2")
	if strings.HasSuffix(dest, "/") {
		dest = path.Join(dest, name)
	} else if fi, ok, err := stat(ctx, h, dest); err != nil {
		return d, err
	} else if ok && fi.IsDir() {
		dest = path.Join(dest, name)
	}
	cur, fi, exists, err := readFile(ctx, h, dest)
	if err != nil {
		return d, err
	}
	want := []byte(out)
	if exists && !m.Force {
		want = cur
	}
	cp, err := planContent(ctx, h, "file:"+dest, dest, cur, fi, exists, want, m.Attrs, &d)
	if err != nil {
		return d, err
	}
	d.State, m.dest = cp, dest
	return d, nil
}

func (m *Template) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	if d.Empty() {
		return nil // Check found nothing to do
	}
	cp, err := modules.StateOf[*contentPlan](h, "template", d)
	if err != nil {
		return err
	}
	m.backupFile, err = cp.apply(ctx, h, writeOpts{backup: m.Backup, validate: m.ValidateCmd})
	return err
}

var (
	_ modules.Module   = (*Template)(nil)
	_ modules.Reader   = (*Template)(nil)
	_ modules.Resulter = (*Template)(nil)
)
