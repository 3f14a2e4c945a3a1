package generic

import (
	"context"
	"encoding/base64"
	"fmt"

	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:      "slurp",
		Summary:   "Read a file from the host into a registered variable, base64-encoded",
		CheckMode: "Reads only; it runs under --check as in a real run.",
		Example: `- name: The join token the first control plane wrote
  slurp:
    src: /etc/kubernetes/join-token
  register: token
- debug: {msg: "{{ token.content | b64decode }}"}`,
		New: func() modules.Module { return &Slurp{} },
	})
}

// Slurp registers content (base64), encoding and source, as Ansible's.
type Slurp struct {
	Src string `yaml:"src" required:"true" aliases:"path" doc:"absolute path of the file to read"`

	content []byte
}

func (m *Slurp) Validate() error { return absPath("src", m.Src) }

func (m *Slurp) Reads() []string { return []string{m.Src} }

func (m *Slurp) Result() map[string]any {
	return map[string]any{"content": base64.StdEncoding.EncodeToString(m.content), "encoding": "base64", "source": m.Src}
}

func (m *Slurp) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	if err := expandHome(ctx, h, &m.Src); err != nil {
		return plan.Diff{}, err
	}
	b, _, exists, err := readFile(ctx, h, m.Src)
	if err != nil {
		return plan.Diff{}, err
	}
	if !exists {
		return plan.Diff{}, fmt.Errorf("file not found: %s", m.Src)
	}
	m.content = b
	return plan.Diff{}, nil
}

// Apply is never called: Check never finds anything to change.
func (m *Slurp) Apply(context.Context, modules.Host, plan.Diff) error { return nil }

var (
	_ modules.Module   = (*Slurp)(nil)
	_ modules.Reader   = (*Slurp)(nil)
	_ modules.Resulter = (*Slurp)(nil)
)
