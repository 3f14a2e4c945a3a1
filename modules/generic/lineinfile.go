package generic

import (
	"context"
	"errors"
	"fmt"

	"github.com/gpuctl/gpuctl/internal/pyre"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:    "lineinfile",
		Summary: "Ensure a line is present in (or absent from) a text file",
		CheckMode: "Reads the file, edits it in memory exactly as apply would and reports the unified diff " +
			"(plus mode/owner/group changes). Writes nothing.",
		Example: `- name: Let bridged traffic through iptables
  lineinfile:
    path: /etc/sysctl.d/k8s.conf
    regexp: '^net\.bridge\.bridge-nf-call-iptables'
    line: net.bridge.bridge-nf-call-iptables = 1
    create: true`,
		New: func() modules.Module { return &LineInFile{} },
	})
}

// LineInFile edits one line of a file.
type LineInFile struct {
	Path         string `yaml:"path" doc:"absolute path of the file to edit (required)"`
	PathAlias    `yaml:",squash"`
	Regexp       string  `yaml:"regexp" doc:"Python regular expression matched against each line: with state=present the last match is replaced by line, with state=absent every match is removed"`
	SearchString *string `yaml:"search_string" doc:"literal string to look for instead of regexp"`
	Line         *string `yaml:"line" doc:"the line to insert or replace; required with state=present"`
	State        string  `yaml:"state" default:"present" choices:"present,absent" doc:"whether the line should be there"`
	InsertAfter  string  `yaml:"insertafter" doc:"when regexp/search_string match nothing, insert after the last line matching this regexp, or EOF (the default) or BOF"`
	InsertBefore string  `yaml:"insertbefore" doc:"when regexp/search_string match nothing, insert before the last line matching this regexp, or BOF"`
	Backrefs     bool    `yaml:"backrefs" doc:"expand \\1 or \\g<name> in line from the regexp match; when nothing matches the file is left alone"`
	FirstMatch   bool    `yaml:"firstmatch" doc:"use the first matching line instead of the last, for regexp and insertafter/insertbefore"`
	Create       bool    `yaml:"create" doc:"create the file (and its directory) when it does not exist, with state=present; otherwise a missing file is an error"`
	Backup       bool    `yaml:"backup" doc:"keep a timestamped copy (path.YYYY-MM-DD@HH:MM:SS.ffffff~) before changing the file"`
	ValidateCmd  string  `yaml:"validate" doc:"command that checks the edited file before it replaces path; %s is its path"`
	Attrs        `yaml:",squash"`

	edit       lineEdit
	msg        string
	backupFile string
}

// Provision takes path from its aliases.
func (m *LineInFile) Provision() { m.PathAlias.fill(&m.Path) }

func (m *LineInFile) Validate() error {
	if err := m.PathAlias.check(m.Path); err != nil {
		return err
	}
	if err := absPath("path", m.Path); err != nil {
		return err
	}
	e := lineEdit{search: m.SearchString, absent: m.State == "absent", insertAfter: m.InsertAfter,
		insertBefore: m.InsertBefore, backrefs: m.Backrefs, firstMatch: m.FirstMatch}
	if m.Line != nil {
		e.line = *m.Line
	}
	if m.Regexp != "" {
		re, err := pyre.Compile(m.Regexp, 0)
		if err != nil {
			return fmt.Errorf("regexp: %w", err)
		}
		e.re = re
		if m.Backrefs && m.Line != nil {
			if _, err := re.ParseTemplate(*m.Line); err != nil {
				return fmt.Errorf("line (backrefs): %w", err)
			}
		}
	}
	switch {
	case m.Regexp != "" && m.SearchString != nil:
		return errors.New("regexp and search_string are mutually exclusive")
	case m.InsertAfter != "" && m.InsertBefore != "":
		return errors.New("insertafter and insertbefore are mutually exclusive")
	case m.State == "present" && m.Line == nil:
		return errors.New("state=present needs line")
	case m.State == "absent" && m.Line == nil && m.Regexp == "" && m.SearchString == nil:
		return errors.New("state=absent needs one of line, regexp or search_string")
	case m.Backrefs && m.Regexp == "":
		return errors.New("backrefs needs regexp")
	case m.Backrefs && m.SearchString != nil:
		return errors.New("backrefs cannot be used with search_string")
	}
	ins := ""
	if m.InsertAfter != "" && m.InsertAfter != "EOF" {
		ins = m.InsertAfter
	} else if m.InsertBefore != "" && m.InsertBefore != "BOF" {
		ins = m.InsertBefore
	}
	if ins != "" {
		re, err := pyre.Compile(ins, 0)
		if err != nil {
			return fmt.Errorf("insertafter/insertbefore: %w", err)
		}
		e.ins = re
	}
	m.edit = e
	if err := validateValidate(m.ValidateCmd); err != nil {
		return err
	}
	return m.Attrs.validate()
}

func (m *LineInFile) Reads() []string { return []string{m.Path} }

func (m *LineInFile) Result() map[string]any {
	r := fileResult("path", m.Path, m.backupFile)
	r["msg"] = m.msg
	return r
}

func (m *LineInFile) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
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
			return d, nil
		}
		if !m.Create {
			return d, fmt.Errorf("%s does not exist (set create: true to create it)", m.Path)
		}
	}
	out, msg := m.edit.apply(string(cur))
	if exists && msg == "" {
		// Unchanged contents: only metadata can differ.
		out = string(cur)
	}
	if msg != "" {
		m.msg = msg
	}
	cp, err := planContent(ctx, h, "file:"+m.Path, real, cur, fi, exists, []byte(out), m.Attrs, &d)
	if err != nil {
		return d, err
	}
	d.State = cp
	return d, nil
}

func (m *LineInFile) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	if d.Empty() {
		return nil // Check found nothing to do
	}
	cp, err := modules.StateOf[*contentPlan](h, "lineinfile", d)
	if err != nil {
		return err
	}
	m.backupFile, err = cp.apply(ctx, h, writeOpts{backup: m.Backup, validate: m.ValidateCmd, parents: m.Create})
	return err
}

var (
	_ modules.Module   = (*LineInFile)(nil)
	_ modules.Reader   = (*LineInFile)(nil)
	_ modules.Resulter = (*LineInFile)(nil)
)
