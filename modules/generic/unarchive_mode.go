package generic

import (
	"context"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

// unarchive's mode is Ansible's: every member of the archive, and the top
// folder of each, gets it after unpacking. Ansible checks it only after
// unpacking, so its check mode misses a mode-only difference; gpuctl reads
// the members' modes in Check and shows each one that would change.

// members lists the archive's members as unpacked (after extra_opts'
// transformations), with the top folder of each nested one, as Ansible's
// files_in_archive and top_folders are.
func (m *Unarchive) members(ctx context.Context, h modules.Host) ([]string, error) {
	r, err := m.run(ctx, h, m.tar("--list"))
	if err != nil || r.ExitCode != 0 {
		return nil, fmt.Errorf("unarchive: %s is not an archive tar can read: %w %s", m.Src, err, strings.TrimSpace(r.Stderr))
	}
	seen := map[string]bool{}
	var out []string
	add := func(p string) {
		p = strings.TrimSuffix(strings.TrimPrefix(p, "./"), "/")
		if p != "" && p != "." && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, l := range strings.Split(strings.TrimRight(r.Stdout, "\n"), "\n") {
		add(l)
		if top, _, nested := strings.Cut(strings.TrimPrefix(l, "./"), "/"); nested {
			add(top)
		}
	}
	return out, nil
}

// modeChanges returns the members whose mode is not m.Mode's, with their
// current and wanted modes; members not unpacked yet are left out (their
// unpacking is already in the diff).
func (m *Unarchive) modeChanges(ctx context.Context, h modules.Host, members []string) ([]plan.Change, error) {
	if len(members) == 0 {
		return nil, nil
	}
	cmd := "cd " + conn.Quote(m.Dest) + ` && xargs -0 stat -c '%f %n' -- 2>/dev/null; true`
	out, err := conn.Output(ctx, h.Conn(), cmd, conn.Stdin(strings.NewReader(strings.Join(members, "\x00"))))
	if err != nil {
		return nil, fmt.Errorf("unarchive: read the modes under %s: %w", m.Dest, err)
	}
	var changes []plan.Change
	for _, l := range strings.Split(out, "\n") {
		raw, name, ok := strings.Cut(l, " ")
		n, perr := strconv.ParseUint(raw, 16, 32)
		if !ok || perr != nil {
			continue
		}
		if n&0o170000 == 0o120000 {
			continue // a symlink's own mode means nothing on Linux
		}
		cur := fromUnix(uint32(n & 0o7777))
		want, err := m.Mode.Apply(cur, n&0o170000 == 0o040000)
		if err != nil {
			return nil, err
		}
		if want != cur {
			changes = append(changes, plan.Change{Resource: "file:" + path.Join(m.Dest, name), Action: plan.Update, Field: "mode", Before: octal(cur), After: octal(want)})
		}
	}
	return changes, nil
}

// applyMode gives every member m.Mode; chmod reads symbolic modes as
// Ansible does, relative to each file's own mode.
func (m *Unarchive) applyMode(ctx context.Context, h modules.Host) error {
	members, err := m.members(ctx, h)
	if err != nil || len(members) == 0 {
		return err
	}
	cmd := "cd " + conn.Quote(m.Dest) + " && xargs -0 chmod " + conn.Quote(string(m.Mode)) + " --"
	if _, err := conn.Output(ctx, h.Conn(), cmd, conn.Stdin(strings.NewReader(strings.Join(members, "\x00")))); err != nil {
		return fmt.Errorf("unarchive: mode %s: %w", m.Mode, err)
	}
	return nil
}
