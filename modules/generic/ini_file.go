package generic

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:    "ini_file",
		Summary: "Set, add or remove options and sections of an INI file (community.general.ini_file)",
		CheckMode: "Reads the file, edits it in memory exactly as apply would and reports the unified diff " +
			"(plus mode/owner/group changes). Writes nothing.",
		Example: `- name: Pip through the internal mirror
  community.general.ini_file:
    path: /etc/pip.conf
    section: global
    option: index-url
    value: https://pypi.internal/simple`,
		New: func() modules.Module { return &IniFile{} },
	})
}

// IniFile is community.general.ini_file, edited line by line as the
// Ansible module edits (comments and layout kept, the same lines moved).
type IniFile struct {
	Path          string   `yaml:"path" required:"true" aliases:"dest" doc:"absolute path of the INI file"`
	Section       string   `yaml:"section" doc:"section name without brackets; empty means options before the first section"`
	Option        string   `yaml:"option" doc:"option name; without it, state=absent removes the section"`
	Value         *string  `yaml:"value" doc:"the option's value"`
	Values        []string `yaml:"values" doc:"several values of one option (one line each)"`
	State         string   `yaml:"state" default:"present" choices:"present,absent" doc:"present sets the option (adding section and option as needed); absent removes it"`
	Exclusive     bool     `yaml:"exclusive" default:"true" doc:"present: remove the option's other values; absent: remove every value, not only those given"`
	NoExtraSpaces bool     `yaml:"no_extra_spaces" doc:"write option=value instead of option = value"`
	AllowNoValue  bool     `yaml:"allow_no_value" doc:"allow an option without value (a bare option line)"`
	Create        bool     `yaml:"create" default:"true" doc:"create the file when it does not exist"`
	Backup        bool     `yaml:"backup" doc:"keep a timestamped copy before changing the file"`
	Attrs         `yaml:",squash"`

	msg, backupFile string
}

func (m *IniFile) Validate() error {
	if err := absPath("path", m.Path); err != nil {
		return err
	}
	switch {
	case m.Value != nil && m.Values != nil:
		return errors.New("value and values are mutually exclusive")
	case m.State == "present" && !m.AllowNoValue && m.Value == nil && len(m.Values) == 0:
		return errors.New("value(s) must be given with state=present unless allow_no_value is true")
	case strings.ContainsAny(m.Section+m.Option, "\n"):
		return errors.New("section and option must be one line")
	}
	return m.Attrs.validate()
}

func (m *IniFile) Reads() []string { return []string{m.Path} }

func (m *IniFile) Result() map[string]any {
	r := fileResult("path", m.Path, m.backupFile)
	r["msg"] = m.msg
	return r
}

func (m *IniFile) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	if err := expandHome(ctx, h, &m.Path); err != nil {
		return plan.Diff{}, err
	}
	var d plan.Diff
	real, cur, fi, exists, err := readReal(ctx, h, m.Path)
	if err != nil {
		return d, err
	}
	if !exists && m.State == "absent" {
		m.msg = "OK"
		return d, nil // nothing to remove; Ansible writes nothing either
	}
	if !exists && !m.Create {
		return d, fmt.Errorf("destination %s does not exist (create is false)", m.Path)
	}
	values := m.Values
	if m.Value != nil {
		values = []string{*m.Value}
	}
	out, msg := iniEdit(strings.TrimPrefix(string(cur), "\ufeff"), m, values)
	m.msg = msg
	cp, err := planContent(ctx, h, "file:"+m.Path, real, cur, fi, exists, []byte(out), m.Attrs, &d)
	if err != nil {
		return d, err
	}
	d.State = cp
	return d, nil
}

func (m *IniFile) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	cp, err := modules.StateOf[*contentPlan](h, "ini_file", d)
	if err != nil {
		return err
	}
	m.backupFile, err = cp.apply(ctx, h, writeOpts{backup: m.Backup, parents: m.Create})
	return err
}

// fakeSection brackets the file so that options before any section and
// the end of the file need no special case, as in the Ansible module.
const fakeSection = "ad01e11446efb704fcdbdb21f2c43757423d91c5"

var blankOrComment = regexp.MustCompile(`^[ \t]*([#;].*)?$`)

// iniEdit is do_ini of community.general.ini_file.
func iniEdit(text string, m *IniFile, in []string) (string, string) {
	var values []string
	for _, v := range in {
		if !slices.Contains(values, v) {
			values = append(values, v)
		}
	}
	lines := strings.SplitAfter(text, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if len(lines) == 0 {
		lines = []string{"\n"}
	}
	if !strings.HasSuffix(lines[len(lines)-1], "\n") {
		lines[len(lines)-1] += "\n"
	}
	lines = append(append([]string{"[" + fakeSection + "]"}, lines...), "[")
	section := m.Section
	if section == "" {
		section = fakeSection
	}
	opt := regexp.MustCompile(`^[#;]?[ \t]*(` + regexp.QuoteMeta(m.Option) + `)[ \t]*(=|$)[ \t]*(.*)`)
	active := regexp.MustCompile(`^[ \t]*(` + regexp.QuoteMeta(m.Option) + `)[ \t]*(=|$)[ \t]*(.*)`)
	match := func(re *regexp.Regexp, l string) []string { return re.FindStringSubmatch(strings.TrimSuffix(l, "\n")) }
	within := false
	start, end := 0, 0
	for i, l := range lines {
		if strings.HasPrefix(l, "["+section+"]") {
			within, start = true, i
		} else if strings.HasPrefix(l, "[") && within {
			end = i
			break
		}
	}
	before, sec, after := lines[:start], slices.Clone(lines[start:end]), lines[end:]
	msg := "OK"
	format := "%s = %s\n"
	if m.NoExtraSpaces {
		format = "%s=%s\n"
	}
	changedLines := make([]bool, len(sec))
	set := func(i int, nl string) {
		if sec[i] != nl {
			msg = "option changed"
		}
		sec[i], changedLines[i] = nl, true
	}
	noValuePresent := false
	if m.State == "present" && m.Option != "" {
		for i, l := range sec {
			g := match(opt, l)
			if g == nil {
				continue
			}
			if k := slices.Index(values, g[3]); len(values) > 0 && k >= 0 {
				if g[3] == "" && m.AllowNoValue {
					set(i, m.Option+"\n")
					noValuePresent = true
				} else {
					set(i, fmt.Sprintf(format, m.Option, g[3]))
				}
				values = slices.Delete(values, k, k+1)
			} else if len(values) == 0 && m.AllowNoValue {
				set(i, m.Option+"\n")
				noValuePresent = true
				break
			}
		}
	}
	if m.State == "present" && m.Exclusive && !m.AllowNoValue {
		for i := 0; i < len(sec) && len(values) > 0; i++ {
			if !changedLines[i] && match(opt, sec[i]) != nil {
				set(i, fmt.Sprintf(format, m.Option, values[0]))
				values = values[1:]
			}
		}
		for i := len(sec) - 1; i > 0; i-- {
			if !changedLines[i] && match(opt, sec[i]) != nil {
				sec = slices.Delete(sec, i, i+1)
				changedLines = slices.Delete(changedLines, i, i+1)
				msg = "option changed"
			}
		}
	}
	if m.State == "present" {
		for i := len(sec); i > 0; i-- {
			if blankOrComment.MatchString(strings.TrimSuffix(sec[i-1], "\n")) {
				continue
			}
			var add []string
			if m.Option != "" && len(values) > 0 {
				for _, v := range values {
					add = append(add, fmt.Sprintf(format, m.Option, v))
				}
			} else if m.Option != "" && m.AllowNoValue && !noValuePresent {
				add = []string{m.Option + "\n"}
			}
			if len(add) > 0 {
				sec = slices.Insert(sec, i, add...)
				msg = "option added"
			}
			break
		}
	}
	if m.State == "absent" {
		keep := func(l string) bool {
			g := match(active, l)
			return g == nil || (!m.Exclusive && !slices.Contains(values, g[3]))
		}
		switch {
		case m.Option != "" && (m.Exclusive || len(values) > 0):
			var kept []string
			for _, l := range sec {
				if keep(l) {
					kept = append(kept, l)
				}
			}
			if len(kept) != len(sec) {
				sec, msg = kept, "option changed"
			}
		case m.Option == "" && len(sec) > 0:
			sec, msg = nil, "section removed"
		}
	}
	out := append(append(append([]string{}, before...), sec...), after...)
	out = out[1 : len(out)-1]
	if !within && m.State == "present" {
		out = append(out, "["+section+"]\n")
		msg = "section and option added"
		switch {
		case m.Option != "" && len(values) > 0:
			for _, v := range values {
				out = append(out, fmt.Sprintf(format, m.Option, v))
			}
		case m.Option != "" && m.AllowNoValue:
			out = append(out, m.Option+"\n")
		default:
			msg = "only section added"
		}
	}
	return strings.Join(out, ""), msg
}

var (
	_ modules.Module   = (*IniFile)(nil)
	_ modules.Reader   = (*IniFile)(nil)
	_ modules.Resulter = (*IniFile)(nil)
)
