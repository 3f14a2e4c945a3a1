package generic

import (
	"context"
	"fmt"
	"regexp"

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
	Regexp      string `yaml:"regexp" required:"true" doc:"regular expression (RE2 syntax, multi-line: ^ and $ match at each line)"`
	Replace     string `yaml:"replace" doc:"replacement; \\1 and \\g<name> insert groups; empty removes the matches"`
	After       string `yaml:"after" doc:"only replace in the text after the first match of this regexp"`
	Before      string `yaml:"before" doc:"only replace in the text before the first match of this regexp"`
	Backup      bool   `yaml:"backup" doc:"keep a timestamped copy (path.YYYY-MM-DD@HH:MM:SS.ffffff~) before changing the file"`
	ValidateCmd string `yaml:"validate" doc:"command that checks the edited file before it replaces path; %s is its path"`
	Attrs       `yaml:",squash"`

	re, section *regexp.Regexp
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
	re, err := regexp.Compile("(?m)" + m.Regexp)
	if err != nil {
		return fmt.Errorf("regexp: %w", err)
	}
	m.re = re
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
		if m.section, err = regexp.Compile("(?s)" + pat); err != nil {
			return fmt.Errorf("after/before: %w", err)
		}
	}
	if err := validateValidate(m.ValidateCmd); err != nil {
		return err
	}
	return m.Attrs.validate()
}

// substitute is the pure part: the new contents and the number of matches.
func (m *Replace) substitute(s string) (string, int) {
	lo, hi := 0, len(s)
	if m.section != nil {
		if idx := m.section.FindStringSubmatchIndex(s); idx != nil {
			g := m.section.SubexpIndex("subsection")
			lo, hi = idx[2*g], idx[2*g+1]
		}
	}
	part := s[lo:hi]
	n := len(m.re.FindAllStringIndex(part, -1))
	if n == 0 {
		return s, 0
	}
	out := m.re.ReplaceAllString(part, pyTemplate(m.Replace))
	return s[:lo] + out + s[hi:], n
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
