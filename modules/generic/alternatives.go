package generic

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:    "alternatives",
		Summary: "Install, select or remove a Debian alternative (community.general.alternatives)",
		CheckMode: "Reads update-alternatives --query and reports the --install, --set, --auto or --remove it would " +
			"run. Changes nothing.",
		Example: `- name: python is python3
  community.general.alternatives:
    name: python
    link: /usr/bin/python
    path: /usr/bin/python3
    priority: 10`,
		New: func() modules.Module { return &Alternatives{} },
	})
}

// Alternatives is community.general.alternatives over update-alternatives,
// with its decisions: (re)install when the path is missing or its priority
// or subcommands differ, then --set (selected) or --auto (auto).
type Alternatives struct {
	Name        string      `yaml:"name" required:"true" doc:"the generic name (editor, python, java)"`
	Path        string      `yaml:"path" required:"true" doc:"the alternative's target"`
	Link        string      `yaml:"link" doc:"the generic link (/usr/bin/python); needed when the group does not exist yet"`
	Priority    *int        `yaml:"priority" doc:"the priority (50 for a new alternative)"`
	State       string      `yaml:"state" default:"selected" choices:"present,selected,auto,absent" doc:"present installs, selected also chooses it, auto installs and returns the group to automatic mode, absent removes it"`
	Subcommands []altSubcmd `yaml:"subcommands" aliases:"slaves" doc:"followers of the link: list of name, path, link"`
	result      map[string]any
}

// altSubcmd is one follower link (a man page beside the binary).
type altSubcmd struct {
	Name string `yaml:"name"`
	Path string `yaml:"path"`
	Link string `yaml:"link"`
}

func (m *Alternatives) Validate() error {
	if strings.ContainsAny(m.Name, "/ \t\n") || m.Name == "" {
		return fmt.Errorf("name %q: expected a name without '/' or spaces", m.Name)
	}
	for _, p := range []string{m.Path, m.Link} {
		if p != "" && !path.IsAbs(p) {
			return fmt.Errorf("%q must be an absolute path", p)
		}
	}
	for _, s := range m.Subcommands {
		if s.Name == "" || !path.IsAbs(s.Path) || !path.IsAbs(s.Link) {
			return errors.New("each subcommand needs name and absolute path and link")
		}
	}
	return nil
}

func (m *Alternatives) Result() map[string]any { return m.result }

// altGroup is what update-alternatives --query says.
type altGroup struct {
	status, link, value string
	links               map[string]string            // follower name → link
	alts                map[string]int               // path → priority
	followers           map[string]map[string]string // path → follower name → path
}

func parseAltQuery(out string) *altGroup {
	g := &altGroup{links: map[string]string{}, alts: map[string]int{}, followers: map[string]map[string]string{}}
	cur := ""
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, " ") {
			name, p, _ := strings.Cut(strings.TrimSpace(l), " ")
			if cur == "" {
				g.links[name] = p
			} else {
				g.followers[cur][name] = p
			}
			continue
		}
		k, v, _ := strings.Cut(l, ": ")
		switch k {
		case "Status":
			g.status = v
		case "Link":
			g.link = v
		case "Value":
			g.value = v
		case "Alternative":
			cur = v
			g.followers[cur] = map[string]string{}
		case "Priority":
			g.alts[cur], _ = strconv.Atoi(v)
		}
	}
	return g
}

func (m *Alternatives) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	res, err := h.Conn().Run(ctx, conn.Join("update-alternatives", "--query", m.Name), conn.Env(map[string]string{"LC_ALL": "C"}))
	if err != nil {
		return plan.Diff{}, fmt.Errorf("alternatives %s: %w", m.Name, err)
	}
	g := &altGroup{alts: map[string]int{}}
	if res.ExitCode == 0 {
		g = parseAltQuery(res.Stdout)
	}
	op := &accountOp{}
	d := plan.Diff{State: op}
	r := "alternative:" + m.Name
	m.result = map[string]any{"msg": ""}
	prio, present := g.alts[m.Path]
	if m.State == "absent" {
		if present {
			op.cmds = append(op.cmds, conn.Join("update-alternatives", "--remove", m.Name, m.Path))
			d.Add(plan.Change{Resource: r, Action: plan.Delete, Before: m.Path})
		}
		return d, nil
	}
	if !present || (m.Priority != nil && prio != *m.Priority) || (m.Subcommands != nil && !m.sameFollowers(g)) {
		if err := m.install(ctx, h, g, prio, present, op, &d); err != nil {
			return d, err
		}
	}
	if m.State == "selected" && g.value != m.Path {
		op.cmds = append(op.cmds, conn.Join("update-alternatives", "--set", m.Name, m.Path))
		d.Add(plan.Change{Resource: r, Action: plan.Update, Field: "selected", Before: g.value, After: m.Path})
	}
	if m.State == "auto" && g.status == "manual" {
		op.cmds = append(op.cmds, conn.Join("update-alternatives", "--auto", m.Name))
		d.Add(plan.Change{Resource: r, Action: plan.Update, Field: "mode", Before: "manual", After: "auto"})
	}
	return d, nil
}

func (m *Alternatives) install(ctx context.Context, h modules.Host, g *altGroup, prio int, present bool, op *accountOp, d *plan.Diff) error {
	if _, ok, err := stat(ctx, h, m.Path); err != nil || !ok {
		return errors.Join(err, modules.NotYet("alternatives: specified path %s does not exist", m.Path))
	}
	link := m.Link
	if link == "" {
		link = g.link
	}
	if link == "" {
		return fmt.Errorf("alternatives %s: the group does not exist yet, so link is needed", m.Name)
	}
	if m.Priority != nil {
		prio = *m.Priority
	} else if !present {
		prio = 50
	}
	cmd := []string{"update-alternatives", "--install", link, m.Name, m.Path, strconv.Itoa(prio)}
	for _, s := range m.subcommands(g) {
		cmd = append(cmd, "--slave", s.Link, s.Name, s.Path)
	}
	op.cmds = append(op.cmds, conn.Join(cmd...))
	act := plan.Create
	if present {
		act = plan.Update
	}
	d.Add(plan.Change{Resource: "alternative:" + m.Name, Action: act, Field: m.Path, After: fmt.Sprintf("priority %d, link %s", prio, link)})
	return nil
}

// subcommands are the given ones, or the path's current followers kept.
func (m *Alternatives) subcommands(g *altGroup) []altSubcmd {
	if m.Subcommands != nil {
		return m.Subcommands
	}
	var out []altSubcmd
	for name, p := range g.followers[m.Path] {
		out = append(out, altSubcmd{Name: name, Path: p, Link: g.links[name]})
	}
	slices.SortFunc(out, func(a, b altSubcmd) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (m *Alternatives) sameFollowers(g *altGroup) bool {
	cur := g.followers[m.Path]
	if len(cur) != len(m.Subcommands) {
		return false
	}
	for _, s := range m.Subcommands {
		if cur[s.Name] != s.Path || g.links[s.Name] != s.Link {
			return false
		}
	}
	return true
}

func (m *Alternatives) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	if d.Empty() {
		return nil // Check found nothing to do
	}
	op, err := modules.StateOf[*accountOp](h, "alternatives", d)
	if err != nil {
		return err
	}
	if err := op.run(ctx, h); err != nil {
		return fmt.Errorf("alternatives %s: %w", m.Name, err)
	}
	return nil
}

var (
	_ modules.Module   = (*Alternatives)(nil)
	_ modules.Resulter = (*Alternatives)(nil)
)
