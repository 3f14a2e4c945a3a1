package fileplan

import (
	"context"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/plan"
)

// NewFileMode is the mode of a new file whose module names none.
const NewFileMode fs.FileMode = 0o644

// Mode gives the permissions a path should have from those it has:
// symbolic modes ("u+x") depend on them, fixed ones (Perm) do not.
type Mode interface {
	Apply(cur fs.FileMode, isDir bool) (fs.FileMode, error)
}

// Perm is a fixed mode.
type Perm fs.FileMode

// Apply returns p whatever the path has.
func (p Perm) Apply(fs.FileMode, bool) (fs.FileMode, error) { return fs.FileMode(p), nil }

// Attrs are the mode, owner and group a path should have; nil and ""
// keep what it has.
type Attrs struct {
	Mode         Mode
	Owner, Group string
}

// AttrFix is what has to change on an existing path's metadata.
type AttrFix struct {
	Mode  fs.FileMode
	Chmod bool
	Owner string // "" when unchanged
	Group string
}

// Empty reports whether nothing needs fixing.
func (f AttrFix) Empty() bool { return !f.Chmod && f.Owner == "" && f.Group == "" }

// Apply fixes p's metadata over the connection's file operations (SFTP),
// with chown/chmod commands only where they cannot; a symlink is changed
// itself, never its target.
func (f AttrFix) Apply(ctx context.Context, c conn.Conn, p string) error {
	if err := conn.Chown(ctx, c, p, f.Owner, f.Group); err != nil {
		return err
	}
	if f.Chmod {
		return conn.Chmod(ctx, c, p, f.Mode)
	}
	return nil
}

// DiffAttrs compares an existing path with a, adds the differences to d as
// changes of res, and returns what Apply has to fix.
func DiffAttrs(ctx context.Context, c conn.Conn, fi conn.FileInfo, a Attrs, res string, d *plan.Diff) (AttrFix, error) {
	var fix AttrFix
	if a.Mode != nil && !fi.IsLink() {
		want, err := a.Mode.Apply(fi.Mode, fi.IsDir())
		if err != nil {
			return fix, err
		}
		if conn.UnixMode(want) != conn.UnixMode(fi.Mode) {
			fix.Mode, fix.Chmod = want, true
			d.Add(plan.Change{Resource: res, Action: plan.Update, Field: "mode", Before: Octal(fi.Mode), After: Octal(want)})
		}
	}
	for _, o := range []struct {
		field, want, have, id, fmt string
		dst                        *string
	}{
		{"owner", a.Owner, fi.Owner, fi.UID, "%u", &fix.Owner},
		{"group", a.Group, fi.Group, fi.GID, "%g", &fix.Group},
	} {
		if o.want == "" || o.want == o.have || o.want == o.id {
			continue
		}
		same, err := sameID(ctx, c, fi.Path, o.want, o.have, o.id, o.fmt)
		if err != nil {
			return fix, err
		}
		if !same {
			*o.dst = o.want
			d.Add(plan.Change{Resource: res, Action: plan.Update, Field: o.field, Before: o.have, After: o.want})
		}
	}
	return fix, nil
}

// sameID settles owner "0" against "root": the transport's numeric id
// answers when it gave one; else, when exactly one side is numeric, the
// name's id is looked up in the host's /etc/passwd or /etc/group (a file
// read, fast over SFTP), and failing that, the host is asked.
func sameID(ctx context.Context, c conn.Conn, path, want, have, id, format string) (bool, error) {
	_, wantNum := strconv.Atoi(want)
	_, haveNum := strconv.Atoi(have)
	if wantNum == nil && id != "" {
		return want == id, nil
	}
	if (wantNum == nil) == (haveNum == nil) {
		return want == have, nil
	}
	if wantNum != nil {
		// A name against a numeric owner (a uid without a passwd entry)
		// never matches: the name would resolve to a real entry.
		return false, nil
	}
	db := "/etc/passwd"
	if format == "%g" {
		db = "/etc/group"
	}
	if b, err := c.ReadFile(ctx, db); err == nil {
		if id, ok := lookupID(string(b), have); ok {
			return id == want, nil
		}
	}
	out, err := conn.Output(ctx, c, conn.Join("stat", "-c", format, "--", path))
	if err != nil {
		return false, fmt.Errorf("stat %s: %w", path, err)
	}
	return out == want, nil
}

// lookupID finds name's id (the third field) in passwd or group text.
func lookupID(db, name string) (string, bool) {
	for _, l := range strings.Split(db, "\n") {
		f := strings.SplitN(l, ":", 4)
		if len(f) >= 3 && f[0] == name {
			return f[2], true
		}
	}
	return "", false
}

// Octal formats a mode the way chmod and Ansible print it ("0644").
func Octal(m fs.FileMode) string { return fmt.Sprintf("%04o", conn.UnixMode(m)) }
