package generic

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

// recursiveFix records which attributes differ somewhere inside a tree;
// Apply then fixes the whole tree with chmod -R / chown -R.
type recursiveFix struct {
	mode         Mode
	owner, group string
}

func (r *recursiveFix) apply(ctx context.Context, h modules.Host, root string) error {
	if r.owner != "" || r.group != "" {
		who := r.owner
		if r.group != "" {
			who += ":" + r.group
		}
		if err := run(ctx, h, conn.Join("chown", "-R", "-h", who, "--", root)); err != nil {
			return err
		}
	}
	if r.mode != "" {
		// chmod -R skips symlinks met on the way, so link targets
		// outside the tree are safe.
		return run(ctx, h, conn.Join("chmod", "-R", string(r.mode), "--", root))
	}
	return nil
}

// treeEntry is one line of find's listing.
type treeEntry struct {
	mode                fs.FileMode
	isDir, isLink       bool
	user, uid, grp, gid string
	path                string
}

// listTree lists root and everything under it, not following symlinks:
// over the connection's file operations (a READDIR per directory, which
// carries each entry's attributes), else with one find.
func listTree(ctx context.Context, h modules.Host, root string) ([]treeEntry, error) {
	fi, err := h.Conn().Stat(ctx, root)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", root, err)
	}
	es := []treeEntry{entryOf(fi)}
	err = walkTree(ctx, h, root, &es)
	if err == nil {
		return es, nil
	}
	if !errors.Is(err, conn.ErrNotSupported) {
		return nil, fmt.Errorf("list %s: %w", root, err)
	}
	r, err := h.Conn().Run(ctx, conn.Join("find", root, "-printf", `%m %u %U %g %G %y %p\0`))
	if err != nil || !r.OK() {
		return nil, fmt.Errorf("list %s: %w", root, orExit(err, r))
	}
	if es, err = parseTree(r.Stdout); err != nil {
		return nil, fmt.Errorf("list %s: %w", root, err)
	}
	return es, nil
}

func walkTree(ctx context.Context, h modules.Host, dir string, es *[]treeEntry) error {
	entries, err := conn.ReadDir(ctx, h.Conn(), dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		*es = append(*es, entryOf(e))
		if e.IsDir() {
			if err := walkTree(ctx, h, e.Path, es); err != nil {
				return err
			}
		}
	}
	return nil
}

func entryOf(fi conn.FileInfo) treeEntry {
	return treeEntry{mode: fi.Mode, isDir: fi.IsDir(), isLink: fi.IsLink(),
		user: fi.Owner, uid: fi.UID, grp: fi.Group, gid: fi.GID, path: fi.Path}
}

// parseTree reads `find -printf '%m %u %U %g %G %y %p\0'`.
func parseTree(out string) ([]treeEntry, error) {
	var es []treeEntry
	for _, rec := range strings.Split(out, "\x00") {
		if rec == "" {
			continue
		}
		f := strings.SplitN(rec, " ", 7)
		if len(f) != 7 {
			return nil, fmt.Errorf("unexpected find output %q", rec)
		}
		n, err := strconv.ParseUint(f[0], 8, 32)
		if err != nil {
			return nil, fmt.Errorf("unexpected find mode %q", f[0])
		}
		es = append(es, treeEntry{mode: fromUnix(uint32(n)), user: f[1], uid: f[2], grp: f[3], gid: f[4],
			isDir: f[5] == "d", isLink: f[5] == "l", path: f[6]})
	}
	return es, nil
}

// checkRecursive compares every path in the tree with the attributes and
// reports the root's difference exactly and the rest as a count.
func (m *File) checkRecursive(ctx context.Context, h modules.Host, root, res string, d *plan.Diff) (*recursiveFix, error) {
	es, err := listTree(ctx, h, root)
	if err != nil {
		return nil, err
	}
	fix := &recursiveFix{}
	var nMode, nOwner, nGroup int
	for _, e := range es {
		isRoot := e.path == root
		if m.Mode != "" && !e.isLink {
			want, err := m.Mode.Apply(e.mode, e.isDir)
			if err != nil {
				return nil, err
			}
			if toUnix(want) != toUnix(e.mode) {
				fix.mode = m.Mode
				if isRoot {
					d.Add(plan.Change{Resource: res, Action: plan.Update, Field: "mode", Before: octal(e.mode), After: octal(want)})
				} else {
					nMode++
				}
			}
		}
		if m.Owner != "" && m.Owner != e.user && m.Owner != e.uid {
			fix.owner = m.Owner
			if isRoot {
				d.Add(plan.Change{Resource: res, Action: plan.Update, Field: "owner", Before: e.user, After: m.Owner})
			} else {
				nOwner++
			}
		}
		if m.Group != "" && m.Group != e.grp && m.Group != e.gid {
			fix.group = m.Group
			if isRoot {
				d.Add(plan.Change{Resource: res, Action: plan.Update, Field: "group", Before: e.grp, After: m.Group})
			} else {
				nGroup++
			}
		}
	}
	for _, c := range []struct {
		field string
		n     int
		after string
	}{{"mode", nMode, string(m.Mode)}, {"owner", nOwner, m.Owner}, {"group", nGroup, m.Group}} {
		if c.n > 0 {
			d.Add(plan.Change{Resource: res, Action: plan.Update, Field: c.field + " (inside)",
				Before: fmt.Sprintf("%d paths inside differ", c.n), After: c.after})
		}
	}
	if fix.mode == "" && fix.owner == "" && fix.group == "" {
		return nil, nil
	}
	return fix, nil
}

func orExit(err error, r conn.Result) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("exit %d: %s", r.ExitCode, strings.TrimSpace(r.Stderr))
}
