// Package fileplan is the one way a module plans a file on a host: Check
// reads what the path holds (over the connection's file operations), compares
// it with what the module wants, adds the differences to the diff (contents
// as a unified diff, binary data as a summary, mode and owner as fields) and
// returns a File that Apply writes atomically without reading the host again.
// Every module family uses it, so a file shows and behaves the same whichever
// module manages it. Blob is the same for large files compared by checksum.
package fileplan

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/plan"
)

// Current is what a path holds now.
type Current struct {
	Path   string
	Data   []byte
	Info   conn.FileInfo
	Exists bool
}

// Stat returns the path's info and whether it exists.
func Stat(ctx context.Context, c conn.Conn, p string) (conn.FileInfo, bool, error) {
	fi, err := c.Stat(ctx, p)
	if errors.Is(err, fs.ErrNotExist) {
		return conn.FileInfo{}, false, nil
	}
	if err != nil {
		return conn.FileInfo{}, false, fmt.Errorf("stat %s: %w", p, err)
	}
	return fi, true, nil
}

// Read returns what p holds; Exists is false when it is missing. A
// directory is an error: the modules that plan contents only manage files.
func Read(ctx context.Context, c conn.Conn, p string) (Current, error) {
	cur := Current{Path: p}
	fi, exists, err := Stat(ctx, c, p)
	if err != nil || !exists {
		return cur, err
	}
	cur.Info, cur.Exists = fi, true
	if fi.IsDir() {
		return cur, fmt.Errorf("%s is a directory", p)
	}
	data, err := c.ReadFile(ctx, p)
	if errors.Is(err, fs.ErrNotExist) {
		cur.Exists = false
		return cur, nil
	}
	if err != nil {
		return cur, fmt.Errorf("read %s: %w", p, err)
	}
	cur.Data = data
	return cur, nil
}

// ReadReal is Read for a file edited in place: like Ansible it follows
// symlinks and reads the target (Current.Path), so /etc/resolv.conf stays a
// link to systemd-resolved's file and Debian 13's
// /etc/sysctl.d/99-sysctl.conf a link to /etc/sysctl.conf.
func ReadReal(ctx context.Context, c conn.Conn, p string) (Current, error) {
	real := p
	for range 16 {
		fi, exists, err := Stat(ctx, c, real)
		if err != nil {
			return Current{Path: real}, err
		}
		if !exists {
			return Current{Path: real}, nil
		}
		if !fi.IsLink() {
			return Read(ctx, c, real)
		}
		if path.IsAbs(fi.Link) {
			real = fi.Link
		} else {
			real = path.Join(path.Dir(real), fi.Link)
		}
	}
	return Current{Path: real}, fmt.Errorf("%s: too many levels of symlinks", p)
}

// Want is what a file should be.
type Want struct {
	Path     string
	Resource string // the plan's name for it; "file:"+Path when empty
	Content  []byte
	// Attrs: a nil Mode and empty Owner/Group keep what an existing file
	// has; a new file gets 0644 and the connection's user.
	Attrs
	// ListNewAttrs lists the mode, owner and group a missing file gets as
	// changes of their own, after its content (the user asked for them);
	// otherwise a new file is one content change.
	ListNewAttrs bool
	// Sensitive hides the contents in every renderer (a token in a config).
	Sensitive bool
}

func (w Want) resource() string {
	if w.Resource != "" {
		return w.Resource
	}
	return "file:" + w.Path
}

// File is a planned file: what Check found and what Apply does.
type File struct {
	Current
	Want  []byte // the desired contents
	Write bool   // contents differ or the file is missing
	Fix   AttrFix
	Attrs Attrs
	// planned is what the file was at check time; the write refuses to
	// replace it when someone else changed it since (conn.ErrChanged).
	planned *conn.Planned
}

// Changed reports whether Apply would change anything.
func (f *File) Changed() bool { return f != nil && (f.Write || !f.Fix.Empty()) }

// Check reads w.Path and plans it (see Plan).
func Check(ctx context.Context, c conn.Conn, w Want, d *plan.Diff) (*File, error) {
	cur, err := Read(ctx, c, w.Path)
	if err != nil {
		return nil, err
	}
	return Plan(ctx, c, cur, w, d)
}

// Plan compares cur, read earlier, with w and adds the differences to d:
// the content first, then mode, owner and group. It changes nothing.
func Plan(ctx context.Context, c conn.Conn, cur Current, w Want, d *plan.Diff) (*File, error) {
	f := &File{Current: cur, Want: w.Content, Attrs: w.Attrs, planned: conn.PlannedFrom(cur.Data, cur.Exists)}
	res := w.resource()
	if !cur.Exists {
		f.Write = true
		ch := ContentChange(res, plan.Create, nil, w.Content)
		ch.Sensitive = w.Sensitive
		d.Add(ch)
		if w.ListNewAttrs {
			return f, NewAttrs(res, w.Attrs, NewFileMode, false, d)
		}
		return f, nil
	}
	if !bytes.Equal(cur.Data, w.Content) {
		f.Write = true
		ch := ContentChange(res, plan.Update, cur.Data, w.Content)
		ch.Sensitive = w.Sensitive
		d.Add(ch)
	}
	fix, err := DiffAttrs(ctx, c, cur.Info, w.Attrs, res, d)
	if err != nil {
		return nil, err
	}
	f.Fix = fix
	return f, nil
}

// NewAttrs lists the mode (from base, a new path's mode), owner and group
// that a path being created gets from a, as changes of res.
func NewAttrs(res string, a Attrs, base fs.FileMode, isDir bool, d *plan.Diff) error {
	if a.Mode != nil {
		m, err := a.Mode.Apply(base, isDir)
		if err != nil {
			return err
		}
		d.Add(plan.Change{Resource: res, Action: plan.Create, Field: "mode", After: Octal(m)})
	}
	for _, c := range [][2]string{{"owner", a.Owner}, {"group", a.Group}} {
		if c[1] != "" {
			d.Add(plan.Change{Resource: res, Action: plan.Create, Field: c[0], After: c[1]})
		}
	}
	return nil
}
