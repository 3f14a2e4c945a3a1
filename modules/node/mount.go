package node

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/facts"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/internal/fileplan"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:    "mount",
		Summary: "Mount a filesystem and keep it in /etc/fstab, or unmount it and take it out (ansible.posix.mount)",
		CheckMode: "Reads fstab and /proc/self/mountinfo and reports fstab's unified diff and the mount, remount or " +
			"unmount that would run. Changes nothing.",
		Example: `- name: Fast disk for container images
  ansible.posix.mount:
    path: /var/lib/containerd
    src: UUID=0d3c2a7e-6f35-4c47-9a53-0c2f1b1e9d11
    fstype: ext4
    opts: noatime
    state: mounted`,
		New: func() modules.Module { return &Mount{} },
	})
}

// Mount is ansible.posix.mount on Linux. fstab is edited line by line as
// the Ansible module edits it (a matching line is rewritten as six fields
// with Ansible's escapes; a four- or five-field line is rewritten once), so
// a role leaves the same fstab under either tool. "Mounted" is what
// /proc/self/mountinfo lists at path, bind mounts included.
type Mount struct {
	Path   string `yaml:"path" required:"true" aliases:"name" doc:"the mount point (absolute), or none for a swap entry"`
	Src    string `yaml:"src" doc:"device, UUID=/LABEL=, NFS export or directory to mount; required with state mounted, present and ephemeral"`
	Fstype string `yaml:"fstype" doc:"filesystem type; required with state mounted, present and ephemeral"`
	Opts   string `yaml:"opts" doc:"mount options, as in fstab(5); defaults when unset"`
	Dump   string `yaml:"dump" default:"0" doc:"fstab's fifth field"`
	Passno string `yaml:"passno" default:"0" doc:"fstab's sixth field"`
	State  string `yaml:"state" required:"true" choices:"mounted,present,unmounted,absent,absent_from_fstab,remounted,ephemeral" doc:"mounted: in fstab and mounted (the mount point is made); present: in fstab only; unmounted: unmounted, fstab left alone; absent: out of fstab, unmounted and the mount point removed; absent_from_fstab: out of fstab only; remounted: remount now (always a change); ephemeral: mounted now without fstab (always a change)"`
	Fstab  string `yaml:"fstab" doc:"file to use instead of /etc/fstab (ignored with state ephemeral)"`
	Boot   bool   `yaml:"boot" default:"true" doc:"false adds noauto to opts, unless opts has defaults or noauto"`
	Backup bool   `yaml:"backup" doc:"keep a timestamped copy of fstab before changing it"`

	opts, fstab string
	bootWord    string
	notes       []string
	changedTab  bool
	backupFile  string
}

const defaultFstab = "/etc/fstab"

// Provision works out opts and fstab as the Ansible module's main does.
func (m *Mount) Provision() {
	m.opts, m.fstab, m.bootWord = m.Opts, m.Fstab, "yes"
	if m.opts == "" {
		m.opts = "defaults"
	}
	if m.fstab == "" {
		m.fstab = defaultFstab
	}
	opts := strings.Split(m.opts, ",")
	switch {
	case slices.Contains(opts, "noauto"):
		if !m.Boot {
			m.notes = append(m.notes, "Ignore the 'boot' due to 'opts' contains 'noauto'.")
		}
	case !m.Boot:
		m.bootWord = "no"
		if slices.Contains(opts, "defaults") {
			m.notes = append(m.notes, "Ignore the 'boot' due to 'opts' contains 'defaults'.")
		} else {
			m.opts += ",noauto"
		}
	}
}

func (m *Mount) Validate() error {
	if !path.IsAbs(m.Path) && m.Path != "none" { // none: a swap entry's mount point
		return fmt.Errorf("path %q must be absolute (or none, for swap)", m.Path)
	}
	switch m.State {
	case "mounted", "present", "ephemeral":
		var missing []string
		if m.Src == "" {
			missing = append(missing, "src")
		}
		if m.Fstype == "" {
			missing = append(missing, "fstype")
		}
		if len(missing) > 0 {
			return fmt.Errorf("state is %s but all of the following are missing: %s", m.State, strings.Join(missing, ", "))
		}
	}
	for _, f := range []struct{ name, v string }{{"path", m.Path}, {"src", m.Src}, {"fstype", m.Fstype}, {"opts", m.opts}, {"dump", m.Dump}, {"passno", m.Passno}} {
		if strings.ContainsAny(f.v, "\n\r\t") {
			return fmt.Errorf("%s %q: an fstab field cannot hold a newline or a tab", f.name, f.v)
		}
	}
	for _, f := range []struct{ name, v string }{{"fstype", m.Fstype}, {"opts", m.opts}, {"dump", m.Dump}, {"passno", m.Passno}} {
		if strings.Contains(f.v, " ") {
			return fmt.Errorf("%s %q: no spaces in this fstab field", f.name, f.v)
		}
	}
	if !path.IsAbs(m.fstab) {
		return fmt.Errorf("fstab %q must be an absolute path", m.fstab)
	}
	return nil
}

func (m *Mount) Reads() []string { return []string{m.fstab} }

// Unverified: remounted and ephemeral change something on every run, as in
// Ansible, so a second run cannot come back clean.
func (m *Mount) Unverified() bool { return m.State == "remounted" || m.State == "ephemeral" }

// Result is what the Ansible module returns.
func (m *Mount) Result() map[string]any {
	r := map[string]any{
		"name": m.Path, "opts": m.opts, "dump": m.Dump, "passno": m.Passno, "fstab": m.fstab,
		"boot": m.bootWord, "backup_file": m.backupFile, "warnings": slices.Clone(m.notes),
	}
	if m.Src != "" {
		r["src"] = m.Src
	}
	if m.Fstype != "" {
		r["fstype"] = m.Fstype
	}
	return r
}

func (m *Mount) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	c := h.Conn()
	s := &steps{}
	for _, n := range m.notes {
		s.note("%s", n)
	}
	info, err := c.ReadFile(ctx, "/proc/self/mountinfo")
	if err != nil {
		return plan.Diff{}, fmt.Errorf("read /proc/self/mountinfo: %w", err)
	}
	mounts := parseMountinfo(string(info))
	cur, isMounted := mounts[m.Path]

	var tab *fileplan.File
	if m.State != "ephemeral" && m.State != "remounted" && m.State != "unmounted" {
		fc, err := fileplan.ReadReal(ctx, c, m.fstab)
		if err != nil {
			return plan.Diff{}, err
		}
		var out string
		if m.State == "absent" || m.State == "absent_from_fstab" {
			out, m.changedTab = unsetFstab(string(fc.Data), m.Path, m.Src)
		} else {
			out, m.changedTab = m.setFstab(string(fc.Data))
		}
		if m.changedTab {
			var d plan.Diff
			want := fileplan.Want{Path: fc.Path, Content: []byte(out)}
			if !fc.Exists {
				want.Attrs = fileplan.Attrs{Mode: fileplan.Perm(0o644)}
			}
			if tab, err = fileplan.Plan(ctx, c, fc, want, &d); err != nil {
				return plan.Diff{}, err
			}
			s.addAll(d, func(ctx context.Context, c conn.Conn) error {
				var err error
				m.backupFile, err = tab.Apply(ctx, c, fileplan.Options{Backup: m.Backup, Parents: true})
				return err
			})
		}
	}

	res := "mount:" + m.Path
	what := m.Src + " (" + m.Fstype + ", " + m.opts + ")"
	switch m.State {
	case "absent":
		if !m.changedTab {
			break // Ansible unmounts and removes the mount point only when fstab had the line
		}
		if isMounted {
			s.add(plan.Change{Resource: res, Action: plan.Delete, Field: "mounted", Before: cur.source, After: "(unmounted)"},
				func(ctx context.Context, c conn.Conn) error { return m.umount(ctx, c) })
		}
		if ok, err := exists(ctx, c, m.Path); err != nil {
			return plan.Diff{}, err
		} else if ok {
			s.add(plan.Change{Resource: "dir:" + m.Path, Action: plan.Delete},
				func(ctx context.Context, c conn.Conn) error {
					if r, err := c.Run(ctx, conn.Join("rmdir", "--", m.Path)); err != nil {
						return err
					} else if !r.OK() {
						return fmt.Errorf("Error rmdir %s: %s", m.Path, strings.TrimSpace(r.Stderr))
					}
					return nil
				})
		}
	case "unmounted":
		if isMounted {
			s.add(plan.Change{Resource: res, Action: plan.Delete, Field: "mounted", Before: cur.source, After: "(unmounted)"},
				func(ctx context.Context, c conn.Conn) error { return m.umount(ctx, c) })
		}
	case "mounted":
		switch {
		case isMounted && m.changedTab:
			s.add(plan.Change{Resource: res, Action: plan.Update, Field: "mounted", Before: cur.source + " (" + cur.fstype + ", " + cur.opts + ")", After: what + ", remounted"},
				func(ctx context.Context, c conn.Conn) error { return m.mountOrUndo(ctx, c, tab, nil, true) })
		case !isMounted:
			dirs, err := missingDirs(ctx, c, m.Path)
			if err != nil {
				return plan.Diff{}, err
			}
			s.add(plan.Change{Resource: res, Action: plan.Create, Field: "mounted", Before: "(not mounted)", After: what},
				func(ctx context.Context, c conn.Conn) error { return m.mountOrUndo(ctx, c, tab, dirs, false) })
		}
	case "ephemeral":
		if isMounted {
			if cur.source != m.Src && cur.bindSrc != m.Src {
				return plan.Diff{}, errors.New("Ephemeral mount point is already mounted with a different source than the " +
					"specified one. Failing in order to prevent an unwanted unmount or override operation. Try replacing " +
					`this command with a "state: unmounted" followed by a "state: ephemeral", or use a different destination path.`)
			}
			s.add(plan.Change{Resource: res, Action: plan.Update, Field: "mounted", Before: cur.source, After: what + ", remounted"},
				func(ctx context.Context, c conn.Conn) error { return m.mountOrUndo(ctx, c, nil, nil, true) })
			break
		}
		dirs, err := missingDirs(ctx, c, m.Path)
		if err != nil {
			return plan.Diff{}, err
		}
		s.add(plan.Change{Resource: res, Action: plan.Create, Field: "mounted", Before: "(not mounted)", After: what},
			func(ctx context.Context, c conn.Conn) error { return m.mountOrUndo(ctx, c, nil, dirs, false) })
	case "remounted":
		s.add(plan.Change{Resource: res, Action: plan.Update, Field: "mounted", Before: cur.source, After: "remounted"},
			func(ctx context.Context, c conn.Conn) error {
				if err := m.remount(ctx, c); err != nil {
					return fmt.Errorf("Error remounting %s: %w", m.Path, err)
				}
				return nil
			})
	}
	return s.diff(), nil
}

func (m *Mount) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	return applySteps(ctx, h, "mount", d)
}

// mountOrUndo mounts (or remounts) after fstab was written; when that
// fails it puts fstab back and removes the directories it made, as the
// Ansible module does, so a failed mount leaves nothing half-done.
func (m *Mount) mountOrUndo(ctx context.Context, c conn.Conn, tab *fileplan.File, dirs []string, re bool) error {
	if len(dirs) > 0 {
		if _, err := conn.Output(ctx, c, conn.Join("mkdir", "-p", "--", m.Path)); err != nil {
			return fmt.Errorf("Error making dir %s: %w", m.Path, err)
		}
	}
	var err error
	if re {
		err = m.remount(ctx, c)
	} else {
		err = m.mount(ctx, c)
	}
	if err == nil {
		return nil
	}
	if tab != nil {
		if rerr := tab.Restore(ctx, c); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}
	for _, d := range slices.Backward(dirs) {
		_, _ = c.Run(ctx, conn.Join("rmdir", "--", d))
	}
	return fmt.Errorf("Error mounting %s: %w", m.Path, err)
}

// mountArgs are the arguments the Ansible module gives mount after its
// options: fstab's path when not the default, or what an ephemeral mount
// needs, then the mount point.
func (m *Mount) mountArgs() []string {
	var a []string
	switch {
	case m.State == "ephemeral":
		a = append(a, "-t", m.Fstype)
		if m.opts != "defaults" {
			a = append(a, "-o", m.opts)
		}
		a = append(a, m.Src)
	case m.fstab != defaultFstab:
		a = append(a, "-T", m.fstab)
	}
	return append(a, m.Path)
}

func (m *Mount) mount(ctx context.Context, c conn.Conn) error {
	return runMount(ctx, c, append([]string{"mount"}, m.mountArgs()...))
}

func (m *Mount) umount(ctx context.Context, c conn.Conn) error {
	if err := runMount(ctx, c, []string{"umount", m.Path}); err != nil {
		return fmt.Errorf("Error unmounting %s: %w", m.Path, err)
	}
	return nil
}

// remount tries mount -o remount first and falls back to umount and mount,
// unless remounted was given options it could not apply.
func (m *Mount) remount(ctx context.Context, c conn.Conn) error {
	o := "remount"
	withOpts := m.State == "remounted" && m.opts != "defaults"
	if withOpts {
		o += "," + m.opts
	}
	err := runMount(ctx, c, append([]string{"mount", "-o", o}, m.mountArgs()...))
	if err == nil {
		return nil
	}
	if withOpts {
		return errors.New("Options were specified with remounted, but the remount command failed. Failing in order " +
			"to prevent an unexpected mount result. Try replacing this command with a \"state: unmounted\" followed " +
			"by a \"state: mounted\" using the full desired mount options instead.")
	}
	if err := runMount(ctx, c, []string{"umount", m.Path}); err != nil {
		return err
	}
	return m.mount(ctx, c)
}

func runMount(ctx context.Context, c conn.Conn, argv []string) error {
	r, err := c.Run(ctx, conn.Join(argv...))
	if err != nil {
		return err
	}
	if !r.OK() {
		return fmt.Errorf("%s", strings.TrimSpace(r.Stdout+r.Stderr))
	}
	return nil
}

// missingDirs lists the directories mkdir -p would make for p, top first.
func missingDirs(ctx context.Context, c conn.Conn, p string) ([]string, error) {
	var out []string
	for d := p; d != "/" && d != "."; d = path.Dir(d) {
		ok, err := exists(ctx, c, d)
		if err != nil {
			return nil, err
		}
		if ok {
			break
		}
		out = append([]string{d}, out...)
	}
	return out, nil
}

// fstabEscape is the Ansible module's _escape_fstab.
var fstabEscape = strings.NewReplacer(`\`, `\134`, " ", `\040`, "&", `\046`).Replace

// fstabLine is one entry. A missing dump or passno is Ansible's integer 0,
// which never equals the string argument, so such a line is rewritten once.
type fstabLine struct{ src, name, fstype, opts, dump, passno string }

const fstabUnset = "\x00"

func (l fstabLine) String() string {
	return l.src + " " + l.name + " " + l.fstype + " " + l.opts + " " + l.dump + " " + l.passno + "\n"
}

// setFstab is the Ansible module's _set_mount_save_old: the entry for Path
// updated in place (each field that differs), or appended.
func (m *Mount) setFstab(text string) (string, bool) {
	want := fstabLine{fstabEscape(m.Src), fstabEscape(m.Path), fstabEscape(m.Fstype), fstabEscape(m.opts), fstabEscape(m.Dump), fstabEscape(m.Passno)}
	var b strings.Builder
	found, changed := false, false
	for _, line := range splitKeep(text) {
		if !strings.HasSuffix(line, "\n") {
			line += "\n"
		}
		t := strings.TrimSpace(line)
		f := strings.Fields(line)
		if t == "" || strings.HasPrefix(t, "#") || len(f) < 4 || len(f) > 6 {
			b.WriteString(line)
			continue
		}
		ld := fstabLine{f[0], f[1], f[2], f[3], fstabUnset, fstabUnset}
		if len(f) > 4 {
			ld.dump = f[4]
		}
		if len(f) > 5 {
			ld.passno = f[5]
		}
		if ld.name != want.name || (m.Src != "" && ld.name == "none" && ld.fstype == "swap" && ld.src != m.Src) {
			b.WriteString(line)
			continue
		}
		found = true
		for _, p := range [][2]*string{{&ld.src, &want.src}, {&ld.fstype, &want.fstype}, {&ld.opts, &want.opts}, {&ld.dump, &want.dump}, {&ld.passno, &want.passno}} {
			if *p[0] != *p[1] {
				*p[0] = *p[1]
				changed = true
			}
		}
		if changed {
			b.WriteString(ld.String())
		} else {
			b.WriteString(line)
		}
	}
	if !found {
		b.WriteString(want.String())
		changed = true
	}
	return b.String(), changed
}

// unsetFstab is the Ansible module's unset_mount: every six-field entry for
// name goes (a swap entry named none only when its src is src).
func unsetFstab(text, name, src string) (string, bool) {
	esc := fstabEscape(name)
	var b strings.Builder
	changed := false
	for _, line := range splitKeep(text) {
		t := strings.TrimSpace(line)
		f := strings.Fields(line)
		if t == "" || strings.HasPrefix(t, "#") || len(f) != 6 ||
			f[1] != esc || (src != "" && f[1] == "none" && f[2] == "swap" && f[0] != src) {
			b.WriteString(line)
			continue
		}
		changed = true
	}
	return b.String(), changed
}

// splitKeep splits text into lines that keep their newline.
func splitKeep(text string) []string {
	l := strings.SplitAfter(text, "\n")
	if l[len(l)-1] == "" {
		l = l[:len(l)-1]
	}
	return l
}

// mountPoint is one line of /proc/self/mountinfo.
type mountPoint struct {
	source, fstype, opts string
	// bindSrc is the Ansible module's idea of the source for a mount under
	// another (a bind mount's directory), which its ephemeral state accepts.
	bindSrc string
}

// parseMountinfo maps each mount point to what is mounted there (the last,
// topmost mount wins, as the kernel shows it).
func parseMountinfo(text string) map[string]mountPoint {
	type rec struct {
		id, parent      int
		root, dst, opts string
		fstype, source  string
	}
	byID := map[int]*rec{}
	var order []*rec
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		sep := slices.Index(f, "-")
		if len(f) < 7 || sep < 6 || sep+2 >= len(f) {
			continue
		}
		id, err1 := strconv.Atoi(f[0])
		parent, err2 := strconv.Atoi(f[1])
		if err1 != nil || err2 != nil {
			continue
		}
		r := &rec{id: id, parent: parent, root: facts.Unoctal(f[3]), dst: facts.Unoctal(f[4]), opts: f[5], fstype: f[sep+1], source: facts.Unoctal(f[sep+2])}
		byID[id] = r
		order = append(order, r)
	}
	out := map[string]mountPoint{}
	for _, r := range order {
		mp := mountPoint{source: r.source, fstype: r.fstype, opts: r.opts, bindSrc: r.source}
		if p, ok := byID[r.parent]; ok && r.parent != 1 {
			root := r.root
			if len(p.root) > 1 && strings.HasPrefix(root, p.root+"/") {
				root = root[len(p.root):]
			}
			if p.dst != "/" {
				root = p.dst + root
			}
			mp.bindSrc = root
		}
		out[r.dst] = mp
	}
	return out
}

var (
	_ modules.Module      = (*Mount)(nil)
	_ modules.Provisioner = (*Mount)(nil)
	_ modules.Reader      = (*Mount)(nil)
	_ modules.Resulter    = (*Mount)(nil)
	_ modules.Unverified  = (*Mount)(nil)
)
