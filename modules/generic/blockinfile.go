package generic

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gpuctl/gpuctl/internal/pyre"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:    "blockinfile",
		Summary: "Insert, update or remove a block of lines between marker lines in a text file",
		CheckMode: "Reads the file, places the block exactly as apply would and reports the unified diff " +
			"(plus mode/owner/group changes). Writes nothing.",
		Example: `- name: Route the cluster network through the bastion
  blockinfile:
    path: /etc/hosts
    marker: "# {mark} gpuctl cluster hosts"
    block: |
      10.0.0.10 cp-1
      10.0.0.11 gpu-1`,
		New: func() modules.Module { return &BlockInFile{} },
	})
}

// BlockInFile is Ansible's blockinfile: the block lives between two marker
// lines; it replaces the block between existing markers or is inserted
// where insertafter/insertbefore say.
type BlockInFile struct {
	Path         string `yaml:"path" required:"true" aliases:"dest,destfile,name" doc:"absolute path of the file to edit"`
	State        string `yaml:"state" default:"present" choices:"present,absent" doc:"absent removes the block and its markers"`
	Marker       string `yaml:"marker" default:"# {mark} ANSIBLE MANAGED BLOCK" doc:"marker line template; {mark} becomes marker_begin or marker_end"`
	Block        string `yaml:"block" aliases:"content" doc:"the lines to put between the markers; empty removes the block"`
	InsertAfter  string `yaml:"insertafter" doc:"when there are no markers yet: insert after the last line matching this regexp, or EOF (default)"`
	InsertBefore string `yaml:"insertbefore" doc:"when there are no markers yet: insert before the last line matching this regexp, or BOF"`
	Create       bool   `yaml:"create" doc:"create the file when it does not exist"`
	Backup       bool   `yaml:"backup" doc:"keep a timestamped copy before changing the file"`
	MarkerBegin  string `yaml:"marker_begin" default:"BEGIN" doc:"what {mark} becomes in the first marker"`
	MarkerEnd    string `yaml:"marker_end" default:"END" doc:"what {mark} becomes in the last marker"`
	ValidateCmd  string `yaml:"validate" doc:"command that checks the edited file before it replaces path; %s is its path"`
	Attrs        `yaml:",squash"`

	ins        *pyre.Regexp
	msg        string
	backupFile string
}

func (m *BlockInFile) Validate() error {
	if err := absPath("path", m.Path); err != nil {
		return err
	}
	if m.InsertAfter != "" && m.InsertBefore != "" {
		return errors.New("insertafter and insertbefore are mutually exclusive")
	}
	if strings.ContainsAny(m.Marker, "\n") {
		return errors.New("marker must be one line")
	}
	for _, p := range []string{m.InsertAfter, m.InsertBefore} {
		if p == "" || p == "EOF" || p == "BOF" {
			continue
		}
		re, err := pyre.Compile(p, 0)
		if err != nil {
			return fmt.Errorf("insertafter/insertbefore: %w", err)
		}
		m.ins = re
	}
	if err := validateValidate(m.ValidateCmd); err != nil {
		return err
	}
	return m.Attrs.validate()
}

func (m *BlockInFile) Reads() []string { return []string{m.Path} }

func (m *BlockInFile) Result() map[string]any {
	r := map[string]any{"msg": m.msg}
	if m.backupFile != "" {
		r["backup_file"] = m.backupFile
	}
	return r
}

func (m *BlockInFile) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	if err := expandHome(ctx, h, &m.Path); err != nil {
		return plan.Diff{}, err
	}
	var d plan.Diff
	real, cur, fi, exists, err := readReal(ctx, h, m.Path)
	if err != nil {
		return d, err
	}
	if !exists {
		if m.State == "absent" {
			m.msg = fmt.Sprintf("File %s not present", m.Path)
			return d, nil
		}
		if !m.Create {
			return d, fmt.Errorf("path %s does not exist (set create: true to create it)", m.Path)
		}
	}
	out := m.edit(string(cur))
	switch {
	case exists && out == string(cur):
	case !exists:
		m.msg = "File created"
	case m.State == "absent" || m.Block == "":
		m.msg = "Block removed"
	default:
		m.msg = "Block inserted"
	}
	cp, err := planContent(ctx, h, "file:"+m.Path, real, cur, fi, exists, []byte(out), m.Attrs, &d)
	if err != nil {
		return d, err
	}
	if exists && !cp.Fix.Empty() {
		if m.msg != "" {
			m.msg += " and "
		}
		m.msg += "ownership, perms or SE linux context changed"
	}
	d.State = cp
	return d, nil
}

// edit is Ansible's algorithm: existing markers are replaced in place;
// otherwise the block goes after (before) the last line matching the
// regexp, or at EOF (BOF).
func (m *BlockInFile) edit(text string) string {
	lines := strings.SplitAfter(text, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	marker0 := strings.ReplaceAll(m.Marker, "{mark}", m.MarkerBegin) + "\n"
	marker1 := strings.ReplaceAll(m.Marker, "{mark}", m.MarkerEnd) + "\n"
	var block []string
	if m.State == "present" && m.Block != "" {
		b := m.Block
		if !strings.HasSuffix(b, "\n") {
			b += "\n"
		}
		bl := strings.SplitAfter(b, "\n")
		block = append(append([]string{marker0}, bl[:len(bl)-1]...), marker1)
	}
	n0, n1 := -1, -1
	for i, l := range lines {
		if l == marker0 {
			n0 = i
		}
		if l == marker1 {
			n1 = i
		}
	}
	switch {
	case n0 < 0 || n1 < 0:
		n0 = m.insertAt(text, lines)
	case n0 < n1:
		lines = append(lines[:n0], lines[n1+1:]...)
	default:
		lines = append(lines[:n1], lines[n0+1:]...)
		n0 = n1
	}
	if n0 > 0 && !strings.HasSuffix(lines[n0-1], "\n") {
		lines[n0-1] += "\n"
	}
	lines = append(lines[:n0], append(block, lines[n0:]...)...)
	return strings.Join(lines, "")
}

// insertAt is where a block without markers goes.
func (m *BlockInFile) insertAt(text string, lines []string) int {
	after := m.InsertAfter != "" || m.InsertBefore == ""
	if m.ins == nil {
		if after {
			return len(lines) // EOF
		}
		return 0 // BOF
	}
	n := -1
	if m.ins.Flags()&pyre.Multiline != 0 {
		// A multi-line pattern is matched against the whole file.
		if loc, _ := m.ins.Search(text); loc != nil {
			if after {
				n = strings.Count(text[:loc.End()], "\n")
			} else {
				n = strings.Count(text[:loc.Start()], "\n")
			}
		}
	} else {
		for i, l := range lines {
			if m.ins.MatchString(l) {
				n = i
			}
		}
	}
	switch {
	case n < 0:
		return len(lines)
	case after:
		return n + 1
	}
	return n
}

func (m *BlockInFile) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	cp, err := modules.StateOf[*contentPlan](h, "blockinfile", d)
	if err != nil {
		return err
	}
	m.backupFile, err = cp.apply(ctx, h, writeOpts{backup: m.Backup, validate: m.ValidateCmd, parents: m.Create})
	return err
}

var (
	_ modules.Module   = (*BlockInFile)(nil)
	_ modules.Reader   = (*BlockInFile)(nil)
	_ modules.Resulter = (*BlockInFile)(nil)
)
