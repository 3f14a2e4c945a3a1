package node

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:    "modprobe",
		Summary: "Load or unload a kernel module, and keep it (with its parameters) across reboots (community.general.modprobe)",
		CheckMode: "Reads /proc/modules, /etc/modules-load.d and /etc/modprobe.d; checks that a module to load exists " +
			"(modprobe -n) and reports the load or unload and the files that would change. Changes nothing.",
		Example: `- name: Bridged traffic through iptables, now and after reboots
  community.general.modprobe:
    name: br_netfilter
    persistent: present`,
		New: func() modules.Module { return &Modprobe{} },
	})
}

const (
	modulesLoadDir = "/etc/modules-load.d"
	modprobeDir    = "/etc/modprobe.d"
)

// Modprobe is community.general.modprobe.
type Modprobe struct {
	Name       string `yaml:"name" required:"true" doc:"the kernel module"`
	State      string `yaml:"state" default:"present" choices:"present,absent" doc:"loaded or not"`
	Params     string `yaml:"params" doc:"module parameters, such as \"numdummies=2\"; used when the module is loaded and, with persistent, written to /etc/modprobe.d/NAME.conf"`
	Persistent string `yaml:"persistent" default:"disabled" choices:"disabled,present,absent" doc:"present: load at boot (/etc/modules-load.d/NAME.conf) with params (/etc/modprobe.d/NAME.conf); absent: comment out both; disabled: leave the files alone"`

	reModule, reParams *regexp.Regexp
}

func (m *Modprobe) Validate() error {
	if !kmodName.MatchString(m.Name) {
		return fmt.Errorf("name %q: not a kernel module name", m.Name)
	}
	for _, p := range strings.Fields(m.Params) {
		if !strings.Contains(p, "=") || strings.ContainsAny(p, "'\"\\") {
			return fmt.Errorf("params: %q is not key=value", p)
		}
	}
	q := regexp.QuoteMeta(m.Name)
	m.reModule = regexp.MustCompile(`^ *` + q + ` *(?:[#;].*)?$`)
	m.reParams = regexp.MustCompile(`^options ` + q + ` (\w+=\S+) *(?:[#;].*)?$`)
	return nil
}

func (m *Modprobe) Result() map[string]any {
	return map[string]any{"name": m.Name, "params": m.Params, "state": m.State}
}

func (m *Modprobe) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	c := h.Conn()
	s := &steps{}
	loaded, err := (&loadedModules{c: c}).loaded(ctx, strings.ReplaceAll(m.Name, "-", "_"))
	if err != nil {
		return plan.Diff{}, err
	}
	res := "kmod:" + m.Name
	switch {
	case m.State == "present" && !loaded:
		// modprobe -n resolves the module without loading it: a missing
		// module fails under --check already, as in Ansible.
		cmd := "modprobe " + conn.Join(append([]string{m.Name}, strings.Fields(m.Params)...)...)
		if err := sh(ctx, c, "modprobe -n "+conn.Quote(m.Name)); err != nil {
			return plan.Diff{}, fmt.Errorf("module %s: %w", m.Name, err)
		}
		s.add(plan.Change{Resource: res, Action: plan.Update, Field: "loaded", Before: "false", After: "true"},
			func(ctx context.Context, c conn.Conn) error { return sh(ctx, c, cmd) })
	case m.State == "absent" && loaded:
		s.add(plan.Change{Resource: res, Action: plan.Update, Field: "loaded", Before: "true", After: "false"},
			func(ctx context.Context, c conn.Conn) error { return sh(ctx, c, "modprobe -r "+conn.Quote(m.Name)) })
	}
	if m.Persistent != "disabled" {
		if err := m.persist(ctx, c, s); err != nil {
			return plan.Diff{}, err
		}
	}
	return s.diff(), nil
}

// persist plans the boot-time files as the Ansible module leaves them.
func (m *Modprobe) persist(ctx context.Context, c conn.Conn, s *steps) error {
	files, err := confFiles(ctx, c)
	if err != nil {
		return err
	}
	want := maps.Clone(files)
	inLoad := func(f string) bool { return strings.HasPrefix(f, modulesLoadDir+"/") }
	var loadedAtBoot bool
	params := map[string]bool{}
	for f, text := range files {
		for _, l := range strings.Split(text, "\n") {
			if inLoad(f) && m.reModule.MatchString(l) {
				loadedAtBoot = true
			}
			if sm := m.reParams.FindStringSubmatch(l); !inLoad(f) && sm != nil {
				params[sm[1]] = true
			}
		}
	}
	wantParams := map[string]bool{}
	for _, p := range strings.Fields(m.Params) {
		wantParams[p] = true
	}
	paramsSet := maps.Equal(params, wantParams)
	if m.Persistent == "present" {
		if !loadedAtBoot {
			want[modulesLoadDir+"/"+m.Name+".conf"] = m.Name + "\n"
		}
		if !paramsSet {
			m.commentOut(want, false)
			var opts []string
			for _, p := range strings.Fields(m.Params) {
				opts = append(opts, "options "+m.Name+" "+p)
			}
			want[modprobeDir+"/"+m.Name+".conf"] = strings.Join(opts, "\n") + "\n"
		}
	} else {
		if loadedAtBoot {
			m.commentOut(want, true)
		}
		if len(params) > 0 {
			m.commentOut(want, false)
		}
	}
	for _, f := range slices.Sorted(maps.Keys(want)) {
		if old, ok := files[f]; !ok || old != want[f] {
			if err := fileStep(ctx, c, s, f, []byte(want[f]), 0o644, false); err != nil {
				return err
			}
		}
	}
	return nil
}

// commentOut puts '#' before the module's lines in modules-load.d (load)
// or its options lines in modprobe.d.
func (m *Modprobe) commentOut(files map[string]string, load bool) {
	for f, text := range files {
		if strings.HasPrefix(f, modulesLoadDir+"/") != load {
			continue
		}
		ls := strings.Split(text, "\n")
		for i, l := range ls {
			if (load && m.reModule.MatchString(l)) || (!load && m.reParams.MatchString(l)) {
				ls[i] = "#" + l
			}
		}
		files[f] = strings.Join(ls, "\n")
	}
}

// confFiles reads every regular file of modules-load.d and modprobe.d in
// one command.
func confFiles(ctx context.Context, c conn.Conn) (map[string]string, error) {
	const script = `for f in ` + modulesLoadDir + `/* ` + modprobeDir + `/*; do
[ -f "$f" ] || continue; printf '\036%s\037' "$f"; cat -- "$f"; done`
	r, err := c.Run(ctx, "sh -c "+conn.Quote(script))
	if err == nil && !r.OK() {
		err = fmt.Errorf("exit %d: %s", r.ExitCode, strings.TrimSpace(r.Stderr))
	}
	if err != nil {
		return nil, fmt.Errorf("read %s and %s: %w", modulesLoadDir, modprobeDir, err)
	}
	out := map[string]string{}
	for _, rec := range strings.Split(r.Stdout, "\036")[1:] {
		name, text, _ := strings.Cut(rec, "\037")
		out[name] = text
	}
	return out, nil
}

func (m *Modprobe) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	return applySteps(ctx, h, "modprobe", d)
}

var (
	_ modules.Module   = (*Modprobe)(nil)
	_ modules.Resulter = (*Modprobe)(nil)
)
