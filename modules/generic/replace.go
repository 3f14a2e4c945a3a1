package generic

import (
	"context"
	"fmt"
	"strings"

	"github.com/gpuctl/gpuctl/internal/pyre"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:    "replace",
		Summary: "Replace every match of a regular expression in a file",
		CheckMode: "Reads the file, applies the substitution in memory and reports the unified diff (plus " +
			"mode/owner/group changes). Writes nothing.",
		Example: `- name: Turn swap off in fstab
  replace:
    path: /etc/fstab
    regexp: '^([^#].*\sswap\s.*)$'
    replace: '# \1'`,
		New: func() modules.Module { return &Replace{} },
	})
}

// Replace substitutes a regexp throughout a file. For the task to be
// idempotent the replacement must not match regexp again, as in Ansible.
type Replace struct {
	Path        string `yaml:"path" doc:"absolute path of the file to edit (required)"`
	PathAlias   `yaml:",squash"`
	Regexp      string `yaml:"regexp" required:"true" doc:"Python regular expression (multi-line: ^ and $ match at each line)"`
	Replace     string `yaml:"replace" doc:"replacement; \\1 and \\g<name> insert groups; empty removes the matches"`
	After       string `yaml:"after" doc:"only replace in the text after the first match of this regexp"`
	Before      string `yaml:"before" doc:"only replace in the text before the first match of this regexp"`
	Backup      bool   `yaml:"backup" doc:"keep a timestamped copy (path.YYYY-MM-DD@HH:MM:SS.ffffff~) before changing the file"`
	ValidateCmd string `yaml:"validate" doc:"command that checks the edited file before it replaces path; %s is its path"`
	Attrs       `yaml:",squash"`

	re, section *pyre.Regexp
	tpl         *pyre.Template
	count       int
	backupFile  string
}

// Provision takes path from its aliases.
func (m *Replace) Provision() { m.PathAlias.fill(&m.Path) }

func (m *Replace) Validate() error {
	if err := m.PathAlias.check(m.Path); err != nil {
		return err
	}
	if err := absPath("path", m.Path); err != nil {
		return err
	}
	re, err := pyre.Compile(m.Regexp, pyre.Multiline)
	if err != nil {
		return fmt.Errorf("regexp: %w", err)
	}
	m.re = re
	if m.tpl, err = re.ParseTemplate(m.Replace); err != nil {
		return fmt.Errorf("replace: %w", err)
	}
	// Ansible builds the section pattern the same way: after and before
	// are regexps around a lazy (or, alone, greedy) subsection.
	var pat string
	switch {
	case m.After != "" && m.Before != "":
		pat = m.After + "(?P<subsection>.*?)" + m.Before
	case m.After != "":
		pat = m.After + "(?P<subsection>.*)"
	case m.Before != "":
		pat = "(?P<subsection>.*)" + m.Before
	}
	if pat != "" {
		if m.section, err = pyre.Compile(pat, pyre.DotAll); err != nil {
			return fmt.Errorf("after/before: %w", err)
		}
	}
	if err := validateValidate(m.ValidateCmd); err != nil {
		return err
	}
	return m.Attrs.validate()
}

// substitute is the pure part: the new contents and the number of matches. As in
// Ansible, when after/before match nothing the file is left alone.
func (m *Replace) substitute(s string) (string, int) {
	lo, hi := 0, len(s)
	if m.section != nil {
		sm, _ := m.section.Search(s)
		if sm == nil {
			return s, 0
		}
		g, _ := m.section.GroupIndex("subsection")
		lo, hi = sm.Span(g)
	}
	part := s[lo:hi]
	all, _ := m.re.FindAll(part)
	if len(all) == 0 {
		return s, 0
	}
	var b strings.Builder
	last := 0
	for _, match := range all {
		b.WriteString(part[last:match.Start()])
		b.WriteString(m.tpl.Expand(match))
		last = match.End()
	}
	b.WriteString(part[last:])
	return s[:lo] + b.String() + s[hi:], len(all)
}

func (m *Replace) Reads() []string { return []string{m.Path} }

func (m *Replace) Result() map[string]any {
	r := fileResult("path", m.Path, m.backupFile)
	r["msg"] = fmt.Sprintf("%d replacements made", m.count)
	return r
}

func (m *Replace) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	if err := expandHome(ctx, h, &m.Path); err != nil {
		return plan.Diff{}, err
	}
	var d plan.Diff
	real, cur, fi, exists, err := readReal(ctx, h, m.Path)
	if err != nil {
		return d, err
	}
	if !exists {
		return d, fmt.Errorf("%s does not exist", m.Path)
	}
	out, n := m.substitute(string(cur))
	if out != string(cur) {
		m.count = n
	}
	cp, err := planContent(ctx, h, "file:"+m.Path, real, cur, fi, true, []byte(out), m.Attrs, &d)
	if err != nil {
		return d, err
	}
	d.State = cp
	return d, nil
}

func (m *Replace) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	if d.Empty() {
		return nil // Check found nothing to do
	}
	cp, err := modules.StateOf[*contentPlan](h, "replace", d)
	if err != nil {
		return err
	}
	m.backupFile, err = cp.apply(ctx, h, writeOpts{backup: m.Backup, validate: m.ValidateCmd})
	return err
}

var (
	_ modules.Module   = (*Replace)(nil)
	_ modules.Reader   = (*Replace)(nil)
	_ modules.Resulter = (*Replace)(nil)
)
