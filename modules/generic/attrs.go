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

// Attrs are the ownership and permission arguments shared by every module
// that manages a file.
type Attrs struct {
	Mode  Mode   `yaml:"mode" doc:"permissions: octal string (\"0644\") or symbolic (\"u=rw,g=r,o=r\"); unset keeps an existing file's mode, new files get 0644 (directories 0755)"`
	Owner string `yaml:"owner" doc:"user name or uid that should own the file; unset keeps the current owner"`
	Group string `yaml:"group" doc:"group name or gid of the file; unset keeps the current group"`
}

func (a Attrs) validate() error {
	if err := a.Mode.Validate(); err != nil {
		return err
	}
	for _, s := range []string{a.Owner, a.Group} {
		if strings.ContainsAny(s, ": \t\n") {
			return fmt.Errorf("owner/group %q must be a single name or id", s)
		}
	}
	return nil
}

// attrFix is what has to change on an existing path's metadata.
type attrFix struct {
	mode  fs.FileMode
	chmod bool
	owner string // "" when unchanged
	group string
}

func (f attrFix) empty() bool { return !f.chmod && f.owner == "" && f.group == "" }

// stat returns the path's info and whether it exists.
func stat(ctx context.Context, h modules.Host, path string) (conn.FileInfo, bool, error) {
	fi, err := h.Conn().Stat(ctx, path)
	if errors.Is(err, fs.ErrNotExist) {
		return conn.FileInfo{}, false, nil
	}
	if err != nil {
		return conn.FileInfo{}, false, fmt.Errorf("stat %s: %w", path, err)
	}
	return fi, true, nil
}

// diffAttrs compares an existing path with a, adds the differences to d as
// changes of res, and returns what Apply has to fix.
func diffAttrs(ctx context.Context, h modules.Host, fi conn.FileInfo, a Attrs, res string, d *plan.Diff) (attrFix, error) {
	var fix attrFix
	if a.Mode != "" && !fi.IsLink() {
		want, err := a.Mode.Apply(fi.Mode, fi.IsDir())
		if err != nil {
			return fix, err
		}
		if toUnix(want) != toUnix(fi.Mode) {
			fix.mode, fix.chmod = want, true
			d.Add(plan.Change{Resource: res, Action: plan.Update, Field: "mode", Before: octal(fi.Mode), After: octal(want)})
		}
	}
	for _, c := range []struct {
		field, want, have, id, fmt string
		dst                        *string
	}{
		{"owner", a.Owner, fi.Owner, fi.UID, "%u", &fix.owner},
		{"group", a.Group, fi.Group, fi.GID, "%g", &fix.group},
	} {
		if c.want == "" || c.want == c.have || c.want == c.id {
			continue
		}
		same, err := sameID(ctx, h, fi.Path, c.want, c.have, c.id, c.fmt)
		if err != nil {
			return fix, err
		}
		if !same {
			*c.dst = c.want
			d.Add(plan.Change{Resource: res, Action: plan.Update, Field: c.field, Before: c.have, After: c.want})
		}
	}
	return fix, nil
}

// sameID settles owner "0" against "root": the transport's numeric id
// answers when it gave one; else, when exactly one side is numeric, the
// name's id is looked up in the host's /etc/passwd or /etc/group (a file
// read, fast over SFTP), and failing that, the host is asked.
func sameID(ctx context.Context, h modules.Host, path, want, have, id, format string) (bool, error) {
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
	if b, err := h.Conn().ReadFile(ctx, db); err == nil {
		if id, ok := lookupID(string(b), have); ok {
			return id == want, nil
		}
	}
	out, err := conn.Output(ctx, h.Conn(), conn.Join("stat", "-c", format, "--", path))
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

// applyAttrs fixes metadata over the connection's file operations (SFTP),
// with chown/chmod only where they cannot; symlinks are changed
// themselves, never their targets.
func applyAttrs(ctx context.Context, h modules.Host, path string, fix attrFix) error {
	if err := conn.Chown(ctx, h.Conn(), path, fix.owner, fix.group); err != nil {
		return err
	}
	if fix.chmod {
		return conn.Chmod(ctx, h.Conn(), path, fix.mode)
	}
	return nil
}

// run executes cmd and turns a non-zero exit into an error.
func run(ctx context.Context, h modules.Host, cmd string, opts ...conn.ExecOption) error {
	_, err := conn.Output(ctx, h.Conn(), cmd, opts...)
	return err
}

// PathAlias accepts the older names Ansible still takes for path, which
// many existing playbooks use (lineinfile: dest=...).
type PathAlias struct {
	Dest     string `yaml:"dest" doc:"alias of path"`
	DestFile string `yaml:"destfile" doc:"alias of path"`
	Name     string `yaml:"name" doc:"alias of path"`
}

// fill sets path from the first alias given, when path itself is not
// (Provision); check then refuses aliases that disagree with it (Validate).
func (a PathAlias) fill(p *string) {
	for _, alt := range []string{a.Dest, a.DestFile, a.Name} {
		if *p == "" {
			*p = alt
		}
	}
}

func (a PathAlias) check(p string) error {
	for _, alt := range []string{a.Dest, a.DestFile, a.Name} {
		if alt != "" && strings.TrimSuffix(alt, "/") != strings.TrimSuffix(p, "/") {
			return fmt.Errorf("path is given twice (%q and %q)", p, alt)
		}
	}
	if p == "" {
		return fmt.Errorf("missing required argument %q", "path")
	}
	return nil
}
