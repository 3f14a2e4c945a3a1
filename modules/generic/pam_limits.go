package generic

import (
	"context"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:    "pam_limits",
		Summary: "Set one limit in limits.conf (community.general.pam_limits)",
		CheckMode: "Reads dest, edits it in memory exactly as apply would and reports the unified diff. " +
			"Writes nothing.",
		Example: `- name: MongoDB may open many files
  community.general.pam_limits:
    domain: mongodb
    limit_type: '-'
    limit_item: nofile
    value: "64000"`,
		New: func() modules.Module { return &PamLimits{} },
	})
}

// PamLimits is community.general.pam_limits: one "domain type item value"
// line of limits.conf, changed in place or appended. The edit follows the
// Ansible module line by line (including how it carries a comment over
// from an earlier line), so a file edited by either ends up the same; one
// difference: a last line without newline gets one before the new line.
type PamLimits struct {
	Domain    string `yaml:"domain" required:"true" doc:"user, @group, wildcard or uid range the limit is for"`
	LimitType string `yaml:"limit_type" required:"true" choices:"soft,hard,-" doc:"soft, hard, or - for both"`
	LimitItem string `yaml:"limit_item" required:"true" choices:"core,data,fsize,memlock,nofile,rss,stack,cpu,nproc,as,maxlogins,maxsyslogins,priority,locks,sigpending,msgqueue,nice,rtprio,chroot" doc:"the limited resource"`
	Value     string `yaml:"value" required:"true" doc:"a number, or unlimited, infinity or -1 for no limit (nice and priority: -20 to 19)"`
	UseMax    bool   `yaml:"use_max" doc:"keep the larger of value and the value already set"`
	UseMin    bool   `yaml:"use_min" doc:"keep the smaller of value and the value already set"`
	Backup    bool   `yaml:"backup" doc:"keep a timestamped copy before changing the file"`
	Dest      string `yaml:"dest" default:"/etc/security/limits.conf" doc:"the limits file"`
	Comment   string `yaml:"comment" doc:"comment written after the line"`

	msg, backupFile string
}

func (m *PamLimits) Validate() error {
	if err := absPath("dest", m.Dest); err != nil {
		return err
	}
	if m.UseMax && m.UseMin {
		return errors.New("cannot use use_min and use_max at the same time")
	}
	if strings.ContainsAny(m.Domain, " \t\n#") || m.Domain == "" {
		return fmt.Errorf("domain %q: one word without spaces or #", m.Domain)
	}
	return validLimit(m.LimitItem, m.Value, "")
}

// validLimit is the value check of limits.conf(5) that Ansible applies to
// the argument and to every line it reads.
func validLimit(item, value, prefix string) error {
	if item == "nice" || item == "priority" {
		n, err := strconv.Atoi(value)
		if err != nil || n < -20 || n > 19 {
			return fmt.Errorf("%svalue %q for item %q: must be a number from -20 to 19", prefix, value, item)
		}
		return nil
	}
	if !unlimited(value) && !isDigits(value) {
		return fmt.Errorf("%svalue %q for item %q: must be unlimited, infinity, -1 or a limit of 0 or more", prefix, value, item)
	}
	return nil
}

func unlimited(v string) bool { return v == "unlimited" || v == "infinity" || v == "-1" }

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func (m *PamLimits) Reads() []string { return []string{m.Dest} }

func (m *PamLimits) Result() map[string]any {
	r := fileResult("dest", m.Dest, m.backupFile)
	r["msg"] = m.msg
	return r
}

func (m *PamLimits) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	if err := expandHome(ctx, h, &m.Dest); err != nil {
		return plan.Diff{}, err
	}
	var d plan.Diff
	real, cur, fi, exists, err := readReal(ctx, h, m.Dest)
	if err != nil {
		return d, err
	}
	if !exists {
		if _, err := h.Conn().Stat(ctx, path.Dir(m.Dest)); err != nil {
			return d, fmt.Errorf("directory %s: %w", path.Dir(m.Dest), err)
		}
	}
	out, msg, err := m.edit(string(cur))
	if err != nil {
		return d, err
	}
	m.msg = msg
	cp, err := planContent(ctx, h, "file:"+m.Dest, real, cur, fi, exists, []byte(out), Attrs{}, &d)
	if err != nil {
		return d, err
	}
	d.State = cp
	return d, nil
}

func (m *PamLimits) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	cp, err := modules.StateOf[*contentPlan](h, "pam_limits", d)
	if err != nil {
		return err
	}
	m.backupFile, err = cp.apply(ctx, h, writeOpts{backup: m.Backup})
	return err
}

var spaces = regexp.MustCompile(`\s+`)

// edit returns the file with the limit set and the line it leaves (Ansible's msg).
func (m *PamLimits) edit(text string) (string, string, error) {
	var b strings.Builder
	found, comment, value, msg := false, m.Comment, m.Value, ""
	line := func() string {
		c := ""
		if comment != "" {
			c = "\t#" + comment
		}
		return m.Domain + "\t" + m.LimitType + "\t" + m.LimitItem + "\t" + value + c + "\n"
	}
	for _, l := range strings.SplitAfter(text, "\n") {
		if l == "" {
			continue
		}
		norm := strings.TrimSpace(spaces.ReplaceAllString(l, " "))
		if strings.HasPrefix(l, "#") || norm == "" {
			b.WriteString(l)
			continue
		}
		norm, old, _ := strings.Cut(norm, "#")
		if _, c, ok := strings.Cut(l, "#"); ok {
			old = c
		}
		if comment == "" {
			comment = old // Ansible keeps the first comment it meets
		}
		f := strings.Split(strings.TrimRight(norm, " "), " ")
		if len(f) != 4 {
			b.WriteString(l)
			continue
		}
		if err := validLimit(f[2], f[3], fmt.Sprintf("invalid configuration found in %s: ", m.Dest)); err != nil {
			return "", "", err
		}
		if f[0] != m.Domain || f[1] != m.LimitType || f[2] != m.LimitItem {
			b.WriteString(l)
			continue
		}
		found = true
		if m.Value == f[3] {
			msg = l
			b.WriteString(l)
			continue
		}
		value = pick(m.Value, f[3], m.UseMax, m.UseMin)
		if value == f[3] {
			msg = l
			b.WriteString(l)
			continue
		}
		msg = line()
		b.WriteString(msg)
	}
	if !found {
		// Ansible appends right after a last line without newline, which
		// makes one broken line and appends again on every run.
		if b.Len() > 0 && !strings.HasSuffix(b.String(), "\n") {
			b.WriteString("\n")
		}
		msg = line()
		b.WriteString(msg)
	}
	return b.String(), msg, nil
}

// pick is the value use_max or use_min leave, unlimited counting as the
// largest.
func pick(want, have string, useMax, useMin bool) string {
	wu, hu := unlimited(want), unlimited(have)
	switch {
	case useMax && hu:
		return have
	case useMax && wu:
		return want
	case useMax:
		return strconv.Itoa(max(atoi(want), atoi(have)))
	case useMin && hu && wu:
		return have
	case useMin && hu:
		return want
	case useMin && wu:
		return have
	case useMin:
		return strconv.Itoa(min(atoi(want), atoi(have)))
	}
	return want
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

var (
	_ modules.Module   = (*PamLimits)(nil)
	_ modules.Reader   = (*PamLimits)(nil)
	_ modules.Resulter = (*PamLimits)(nil)
)
