package generic

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"time"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/internal/fileplan"
	"github.com/gpuctl/gpuctl/plan"
)

// zipStep is what Apply does to one member's path.
type zipStep struct {
	zipMember
	path   string
	exists bool
	want   fs.FileMode // permission bits it gets
	write  bool        // create it, or replace contents or link
	fix    fileplan.AttrFix
	touch  bool // set the archive's mtime
}

// zipPlan is a controller zip's plan, in name order (parents first).
type zipPlan struct{ steps []*zipStep }

// planZip compares each member with its path under dest and adds the
// differences to d: folders and links by stat, files by sha256
// (one command for all of them), then mode, owner, group and mtime.
func (m *Unarchive) planZip(ctx context.Context, h modules.Host, members []zipMember, d *plan.Diff) (*zipPlan, error) {
	zp := &zipPlan{}
	var blobs []fileplan.Blob
	byPath := map[string]*zipStep{}
	from := path.Base(m.Src)
	for _, zm := range members {
		p := path.Join(m.Dest, zm.name)
		res := "file:" + p
		fi, ok, err := stat(ctx, h, p)
		if err != nil {
			return nil, err
		}
		want, err := m.Mode.Apply(zm.mode&^(fs.ModeDir|fs.ModeSymlink), zm.isDir())
		if err != nil {
			return nil, err
		}
		st := &zipStep{zipMember: zm, path: p, exists: ok, want: want}
		attrs := fileplan.Attrs{Owner: m.Owner, Group: m.Group}
		if !zm.implicit || m.Mode != "" {
			attrs.Mode = fileplan.Perm(want)
		}
		switch {
		case ok && zm.isDir() != fi.IsDir():
			return nil, fmt.Errorf("%s is a %s on the host, the archive has a %s there", p, kind(fi), kindOf(zm.mode))
		case !ok && zm.isDir():
			st.write = true
			d.Add(plan.Change{Resource: res, Action: plan.Create, Field: "state", After: "directory"})
		case zm.isLink() && (!ok || !fi.IsLink() || fi.Link != zm.link):
			st.write = true
			ch := plan.Change{Resource: res, Action: plan.Create, Field: "link", After: zm.link}
			if ok {
				ch.Action, ch.Before = plan.Update, fi.Link
				if !fi.IsLink() {
					ch.Before = kind(fi)
				}
			}
			d.Add(ch)
		case !zm.isDir() && !zm.isLink() && ok && fi.IsLink():
			st.write = true
			d.Add(plan.Change{Resource: res, Action: plan.Update, Field: "type", Before: "symlink to " + fi.Link, After: "file from " + from})
		case !zm.isDir() && !zm.isLink():
			if ok && m.KeepNewer && fi.ModTime.After(zm.mtime) {
				continue // keep_newer: the host's file is newer, leave it
			}
			blobs = append(blobs, fileplan.Blob{Path: p, Mode: want, SHA256: zm.sha256, Size: int64(zm.file.UncompressedSize64), From: from})
			byPath[res] = st
			if ok && !fi.ModTime.Equal(zm.mtime) {
				st.touch = true
				d.Add(plan.Change{Resource: res, Action: plan.Update, Field: "mtime", Before: fi.ModTime.UTC().Format(time.RFC3339), After: zm.mtime.UTC().Format(time.RFC3339)})
			}
		}
		if ok && !st.write {
			if st.fix, err = fileplan.DiffAttrs(ctx, h.Conn(), fi, attrs, res, d); err != nil {
				return nil, err
			}
		}
		zp.steps = append(zp.steps, st)
	}
	n := len(d.Changes)
	if _, err := fileplan.CheckBlobs(ctx, h.Conn(), blobs, d); err != nil {
		return nil, err
	}
	for _, ch := range d.Changes[n:] {
		if st := byPath[ch.Resource]; st != nil {
			st.write, st.touch = true, true
		}
	}
	// A member whose contents change gets the archive's mtime with them:
	// one change, not two.
	d.Changes = slices.DeleteFunc(d.Changes, func(ch plan.Change) bool {
		st := byPath[ch.Resource]
		return ch.Field == "mtime" && st != nil && st.write
	})
	return zp, nil
}

// kindOf names a member's type for errors.
func kindOf(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&fs.ModeSymlink != 0:
		return "symlink"
	}
	return "file"
}

// apply creates the folders, writes files (atomically) and links, and
// gives folders their modes last, so a read-only folder is filled before
// it closes.
func (zp *zipPlan) apply(ctx context.Context, h modules.Host, m *Unarchive) error {
	c := h.Conn()
	for _, st := range zp.steps {
		if st.isDir() && st.write {
			if _, err := conn.MkdirAll(ctx, c, st.path); err != nil {
				return err
			}
			st.fix = fileplan.AttrFix{Mode: st.want, Chmod: !st.implicit || m.Mode != "", Owner: m.Owner, Group: m.Group}
		}
	}
	for _, st := range zp.steps {
		if !st.isDir() {
			if err := st.applyEntry(ctx, c, m); err != nil {
				return err
			}
		}
	}
	for i := len(zp.steps) - 1; i >= 0; i-- {
		if st := zp.steps[i]; st.isDir() {
			if err := st.fix.Apply(ctx, c, st.path); err != nil {
				return err
			}
		}
	}
	return nil
}

// applyEntry writes or fixes one file or symlink.
func (st *zipStep) applyEntry(ctx context.Context, c conn.Conn, m *Unarchive) error {
	switch {
	case st.write && st.isLink():
		if st.exists {
			if err := conn.Remove(ctx, c, st.path); err != nil {
				return err
			}
		}
		if err := conn.Symlink(ctx, c, st.link, st.path); err != nil {
			return err
		}
		return conn.Chown(ctx, c, st.path, m.Owner, m.Group)
	case st.write:
		data, err := readMember(st.file)
		if err != nil {
			return err
		}
		if err := c.WriteFile(ctx, st.path, data, conn.FileAttrs{Mode: st.want, Owner: m.Owner, Group: m.Group}); err != nil {
			return fmt.Errorf("write %s: %w", st.path, err)
		}
	default:
		if err := st.fix.Apply(ctx, c, st.path); err != nil {
			return err
		}
	}
	if st.touch {
		return conn.Chtimes(ctx, c, st.path, st.mtime, st.mtime)
	}
	return nil
}
