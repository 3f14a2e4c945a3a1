package generic

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:    "timezone",
		Summary: "Set the system time zone and whether the RTC keeps local time (community.general.timezone)",
		CheckMode: "Reads the /etc/localtime link and /etc/adjtime and reports what would change. Changes nothing; " +
			"a zone the host has no tzdata file for is an error.",
		Example: `- community.general.timezone:
    name: Etc/UTC`,
		New: func() modules.Module { return &Timezone{} },
	})
}

// Timezone is community.general.timezone's systemd way (timedatectl), the
// one it takes on systemd hosts; the state is read from the files
// timedated keeps, so a check starts no process.
type Timezone struct {
	Name    string `yaml:"name" doc:"the zone, as under /usr/share/zoneinfo (Europe/Paris, Etc/UTC)"`
	Hwclock string `yaml:"hwclock" choices:"local,UTC" aliases:"rtc" doc:"whether the hardware clock keeps local time or UTC"`

	before, after map[string]string
}

var tzName = regexp.MustCompile(`^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$`)

func (m *Timezone) Validate() error {
	if m.Name == "" && m.Hwclock == "" {
		return errors.New("give name or hwclock")
	}
	if m.Name != "" && !tzName.MatchString(m.Name) {
		return fmt.Errorf("name %q is not a time zone name (Area/City)", m.Name)
	}
	return nil
}

func (m *Timezone) Reads() []string { return []string{"/etc/localtime", "/etc/adjtime"} }

// Result carries Ansible's diff: before and after of the fields given.
func (m *Timezone) Result() map[string]any {
	return map[string]any{"diff": map[string]any{"before": m.before, "after": m.after}}
}

func (m *Timezone) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	var d plan.Diff
	op := &accountOp{}
	d.State = op
	m.before, m.after = map[string]string{}, map[string]string{}
	if m.Name != "" {
		zone := "/usr/share/zoneinfo/" + m.Name
		if _, ok, err := stat(ctx, h, zone); err != nil || !ok {
			return d, errors.Join(err, fmt.Errorf("timezone: %s does not exist on the host (is tzdata installed?)", zone))
		}
		cur := "UTC" // timedated's answer without /etc/localtime
		if fi, ok, err := stat(ctx, h, "/etc/localtime"); err != nil {
			return d, err
		} else if ok && fi.IsLink() {
			_, cur, _ = strings.Cut(fi.Link, "zoneinfo/")
		}
		m.before["name"], m.after["name"] = cur, m.Name
		if cur != m.Name {
			op.cmds = append(op.cmds, conn.Join("timedatectl", "set-timezone", m.Name))
			d.Add(plan.Change{Resource: "timezone", Action: plan.Update, Field: "name", Before: cur, After: m.Name})
		}
	}
	if m.Hwclock != "" {
		adj, _, _, err := readFile(ctx, h, "/etc/adjtime")
		if err != nil {
			return d, err
		}
		cur := "UTC"
		if l := strings.Split(string(adj), "\n"); len(l) > 2 && strings.TrimSpace(l[2]) == "LOCAL" {
			cur = "local"
		}
		m.before["hwclock"], m.after["hwclock"] = cur, m.Hwclock
		if cur != m.Hwclock {
			rtc := "no"
			if m.Hwclock == "local" {
				rtc = "yes"
			}
			op.cmds = append(op.cmds, conn.Join("timedatectl", "set-local-rtc", rtc))
			d.Add(plan.Change{Resource: "timezone", Action: plan.Update, Field: "hwclock", Before: cur, After: m.Hwclock})
		}
	}
	return d, nil
}

func (m *Timezone) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	if d.Empty() {
		return nil // Check found nothing to do
	}
	op, err := modules.StateOf[*accountOp](h, "timezone", d)
	if err != nil {
		return err
	}
	if err := op.run(ctx, h); err != nil {
		return fmt.Errorf("timezone: %w", err)
	}
	return nil
}

var (
	_ modules.Module   = (*Timezone)(nil)
	_ modules.Resulter = (*Timezone)(nil)
	_ modules.Reader   = (*Timezone)(nil)
)
