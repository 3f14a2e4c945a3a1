package generic

import (
	"context"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

// A zip already on the host (remote_src) is read there by unzip, as
// Ansible's ZipArchive does: gpuctl does not copy a large download back to
// the controller to read it. Each member's contents are compared with
// `unzip -p | cmp`, folders by existence, modes and owners by stat.

// tarName is a name no one gives a zip: its check costs no extra command.
var tarName = regexp.MustCompile(`\.(tar|tgz|tbz2?|txz|tzst|tar\.(gz|bz2|xz|zst))$`)

// remoteIsZip reads the first bytes of the host's archive.
func (m *Unarchive) remoteIsZip(ctx context.Context, h modules.Host) (bool, error) {
	if tarName.MatchString(m.Src) {
		return false, nil
	}
	r, err := h.Conn().Run(ctx, "head -c 4 -- "+conn.Quote(m.Src))
	if err != nil {
		return false, fmt.Errorf("unarchive: read %s: %w", m.Src, err)
	}
	return isZip([]byte(r.Stdout)), nil
}

// unzipPlan is what Apply unpacks from a host zip.
type unzipPlan struct {
	names   []string // members to (re)extract, as the archive names them
	members []string // every selected member under dest, for mode and owner
}

// checkUnzip plans a zip on the host with the host's unzip.
func (m *Unarchive) checkUnzip(ctx context.Context, h modules.Host) (plan.Diff, error) {
	var d plan.Diff
	m.result["handler"] = "ZipArchive"
	if len(m.ExtraOpts) > 0 {
		return d, fmt.Errorf("unarchive: %s is a zip archive: extra_opts are tar options, not supported for zips (use include/exclude)", m.Src)
	}
	if r, err := h.Conn().Run(ctx, "command -v unzip"); err != nil || r.ExitCode != 0 {
		return d, errors.Join(err, fmt.Errorf("unarchive: %s on %s is a zip archive and unpacking it there needs unzip, "+
			"which the host lacks: install the package unzip first (apt: name: unzip), or unpack it from the controller "+
			"(remote_src: false), which needs nothing on the host", m.Src, h.Name()))
	}
	out, err := conn.Output(ctx, h.Conn(), "LC_ALL=C unzip -Z1 "+conn.Quote(m.Src))
	if err != nil {
		return d, fmt.Errorf("unarchive: %s is not a zip unzip can read: %w", m.Src, err)
	}
	var names []string
	up := &unzipPlan{}
	seen := map[string]bool{}
	for _, raw := range strings.Split(out, "\n") {
		name, err := safeMemberName(raw)
		if err != nil {
			return d, fmt.Errorf("unarchive: %s: %w", m.Src, err)
		}
		if name == "" || !selected(raw, m.Include, m.Exclude) {
			continue
		}
		names = append(names, raw)
		for p := name; p != "." && !seen[p]; p = path.Dir(p) {
			seen[p] = true
			up.members = append(up.members, p)
		}
	}
	if m.ListFiles {
		m.result["files"] = append([]string{}, names...)
	}
	changed, err := m.unzipDiffers(ctx, h, names)
	if err != nil {
		return d, err
	}
	for _, c := range changed {
		up.names = append(up.names, c.name)
		d.Add(plan.Change{Resource: "file:" + path.Join(m.Dest, c.name), Action: c.act, Field: "unarchived", Before: c.why, After: "from " + path.Base(m.Src)})
	}
	if m.Mode != "" {
		changes, err := m.modeChanges(ctx, h, up.members)
		if err != nil {
			return d, err
		}
		for _, c := range changes {
			d.Add(c)
		}
	}
	if err := m.ownerChanges(ctx, h, up.members, &d); err != nil {
		return d, err
	}
	if !d.Empty() {
		d.State = up
	}
	return d, nil
}

type unzipChange struct {
	name, why string
	act       plan.Action
}

// unzipDiffers runs one script on the host that reports each member that
// is missing under dest or whose contents differ.
func (m *Unarchive) unzipDiffers(ctx context.Context, h modules.Host, names []string) ([]unzipChange, error) {
	if len(names) == 0 {
		return nil, nil
	}
	script := `cd ` + conn.Quote(m.Dest) + ` || exit 2; src=` + conn.Quote(m.Src) + `
while IFS= read -r n && IFS= read -r pat; do
  case "$n" in
  */) [ -d "$n" ] || echo "missing $n" ;;
  *) if [ -L "$n" ]; then
       [ "$(readlink -- "$n")" = "$(LC_ALL=C unzip -p "$src" "$pat")" ] || echo "differs $n"
     elif [ ! -f "$n" ]; then echo "missing $n"
     elif ! LC_ALL=C unzip -p "$src" "$pat" | cmp -s - "$n"; then echo "differs $n"; fi ;;
  esac
done`
	var in strings.Builder
	for _, n := range names {
		in.WriteString(n + "\n" + unzipPattern(n) + "\n")
	}
	out, err := conn.Output(ctx, h.Conn(), script, conn.Stdin(strings.NewReader(in.String())))
	if err != nil {
		return nil, fmt.Errorf("unarchive: compare %s with %s: %w", m.Src, m.Dest, err)
	}
	var changes []unzipChange
	for _, l := range lines(out) {
		why, n, ok := strings.Cut(l, " ")
		if !ok {
			continue
		}
		c := unzipChange{name: n, why: "Contents differ", act: plan.Update}
		if why == "missing" {
			c.why, c.act = "missing", plan.Create
		}
		changes = append(changes, c)
	}
	return changes, nil
}

// unzipPattern quotes a member's name for unzip, which reads member
// arguments as wildcards: [x] matches x literally.
func unzipPattern(n string) string {
	var b strings.Builder
	for _, r := range n {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteString("[" + string(r) + "]")
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// ownerChanges lists the members whose owner or group is not the one
// asked for.
func (m *Unarchive) ownerChanges(ctx context.Context, h modules.Host, members []string, d *plan.Diff) error {
	if (m.Owner == "" && m.Group == "") || len(members) == 0 {
		return nil
	}
	cmd := "cd " + conn.Quote(m.Dest) + ` && xargs -0 stat -c '%U %u %G %g %n' -- 2>/dev/null; true`
	out, err := conn.Output(ctx, h.Conn(), cmd, conn.Stdin(strings.NewReader(strings.Join(members, "\x00"))))
	if err != nil {
		return fmt.Errorf("unarchive: read the owners under %s: %w", m.Dest, err)
	}
	for _, l := range lines(out) {
		f := strings.SplitN(l, " ", 5)
		if len(f) != 5 {
			continue
		}
		res := "file:" + path.Join(m.Dest, f[4])
		if m.Owner != "" && m.Owner != f[0] && m.Owner != f[1] {
			d.Add(plan.Change{Resource: res, Action: plan.Update, Field: "owner", Before: f[0], After: m.Owner})
		}
		if m.Group != "" && m.Group != f[2] && m.Group != f[3] {
			d.Add(plan.Change{Resource: res, Action: plan.Update, Field: "group", Before: f[2], After: m.Group})
		}
	}
	return nil
}

// apply unpacks the changed members with unzip -o, then sets mode and
// owner on every member.
func (up *unzipPlan) apply(ctx context.Context, h modules.Host, m *Unarchive) error {
	if len(up.names) > 0 {
		args := []string{"unzip", "-o", "-q", m.Src}
		for _, n := range up.names {
			args = append(args, unzipPattern(n))
		}
		cmd := "LC_ALL=C " + conn.Join(append(args, "-d", m.Dest)...)
		r, err := h.Conn().Run(ctx, cmd)
		if err != nil {
			return fmt.Errorf("unarchive: %w", err)
		}
		m.result["extract_results"] = map[string]any{"cmd": cmd, "rc": r.ExitCode, "out": r.Stdout, "err": r.Stderr}
		if r.ExitCode != 0 {
			return fmt.Errorf("unarchive: %w", &conn.ExitError{Cmd: cmd, Result: r})
		}
	}
	list := strings.NewReader(strings.Join(up.members, "\x00"))
	if m.Owner != "" || m.Group != "" {
		cmd := "cd " + conn.Quote(m.Dest) + " && xargs -0 chown -h " + conn.Quote(strings.TrimSuffix(m.Owner+":"+m.Group, ":")) + " --"
		if _, err := conn.Output(ctx, h.Conn(), cmd, conn.Stdin(list)); err != nil {
			return fmt.Errorf("unarchive: owner %s group %s: %w", m.Owner, m.Group, err)
		}
	}
	if m.Mode == "" {
		return nil
	}
	cmd := "cd " + conn.Quote(m.Dest) + " && xargs -0 chmod " + conn.Quote(string(m.Mode)) + " --"
	if _, err := conn.Output(ctx, h.Conn(), cmd, conn.Stdin(strings.NewReader(strings.Join(up.members, "\x00")))); err != nil {
		return fmt.Errorf("unarchive: mode %s: %w", m.Mode, err)
	}
	return nil
}
