package generic

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

// contentPlan is what Check found for one file whose whole contents a
// module computes (copy, template, lineinfile, replace); Apply carries it
// out without reading the host again.
type contentPlan struct {
	path   string
	exists bool
	info   conn.FileInfo
	data   []byte // the desired contents
	write  bool   // contents differ or the file is missing
	fix    attrFix
	attrs  Attrs
	// planned is what the file was at check time; the write refuses to
	// replace it when someone else changed it since (conn.ErrChanged).
	planned *conn.Planned
}

// readFile returns a file's contents and info; exists is false when it is
// missing. A directory is an error: these modules only manage files.
func readFile(ctx context.Context, h modules.Host, p string) (data []byte, fi conn.FileInfo, exists bool, err error) {
	fi, exists, err = stat(ctx, h, p)
	if err != nil || !exists {
		return nil, fi, exists, err
	}
	if fi.IsDir() {
		return nil, fi, true, fmt.Errorf("%s is a directory", p)
	}
	data, err = h.Conn().ReadFile(ctx, p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fi, false, nil
	}
	if err != nil {
		return nil, fi, true, fmt.Errorf("read %s: %w", p, err)
	}
	return data, fi, true, nil
}

// readReal is readFile for modules that edit a file in place (lineinfile,
// replace): like Ansible they follow symlinks and edit the target, so
// /etc/resolv.conf stays a link to systemd-resolved's file.
func readReal(ctx context.Context, h modules.Host, p string) (real string, data []byte, fi conn.FileInfo, exists bool, err error) {
	real = p
	for range 16 {
		fi, exists, err = stat(ctx, h, real)
		if err != nil || !exists || !fi.IsLink() {
			break
		}
		if path.IsAbs(fi.Link) {
			real = fi.Link
		} else {
			real = path.Join(path.Dir(real), fi.Link)
		}
	}
	if err != nil || !exists {
		return real, nil, fi, exists, err
	}
	data, fi, exists, err = readFile(ctx, h, real)
	return real, data, fi, exists, err
}

// planContent compares the host's file p with want and describes the
// difference in d as changes of res ("file:" and the path the user
// named). Content changes come first, then mode and owner.
func planContent(ctx context.Context, h modules.Host, res, p string, cur []byte, fi conn.FileInfo, exists bool, want []byte, a Attrs, d *plan.Diff) (*contentPlan, error) {
	cp := &contentPlan{path: p, exists: exists, info: fi, data: want, attrs: a, planned: conn.PlannedFrom(cur, exists)}
	switch {
	case !exists:
		cp.write = true
		d.Add(contentChange(res, plan.Create, nil, want))
		if a.Mode != "" {
			m, err := a.Mode.Apply(0o644, false)
			if err != nil {
				return nil, err
			}
			d.Add(plan.Change{Resource: res, Action: plan.Create, Field: "mode", After: octal(m)})
		}
		for _, c := range [][2]string{{"owner", a.Owner}, {"group", a.Group}} {
			if c[1] != "" {
				d.Add(plan.Change{Resource: res, Action: plan.Create, Field: c[0], After: c[1]})
			}
		}
		return cp, nil
	case !bytes.Equal(cur, want):
		cp.write = true
		d.Add(contentChange(res, plan.Update, cur, want))
	}
	fix, err := diffAttrs(ctx, h, fi, a, res, d)
	if err != nil {
		return nil, err
	}
	cp.fix = fix
	return cp, nil
}

// contentChange shows text as a unified diff and binary data as a summary,
// since a diff of bytes helps nobody.
func contentChange(res string, act plan.Action, before, after []byte) plan.Change {
	c := plan.Change{Resource: res, Action: act, Field: "content"}
	if isText(before) && isText(after) {
		c.Before, c.After, c.Content = string(before), string(after), true
		return c
	}
	c.Before, c.After = summary(before), summary(after)
	if before == nil {
		c.Before = ""
	}
	return c
}

func isText(b []byte) bool { return utf8.Valid(b) && bytes.IndexByte(b, 0) < 0 }

func summary(b []byte) string {
	return fmt.Sprintf("(binary, %d bytes, sha256 %x)", len(b), sha256.Sum256(b))
}

// writeOpts are the Ansible arguments that shape how a file is replaced.
type writeOpts struct {
	backup   bool
	validate string
	parents  bool // create missing parent directories (lineinfile create)
}

// apply writes the file (atomically, through the connection) and fixes
// its metadata. It returns the backup's path when one was made.
func (cp *contentPlan) apply(ctx context.Context, h modules.Host, o writeOpts) (string, error) {
	var backupFile string
	if cp.write {
		if o.validate != "" {
			if err := validateContent(ctx, h, cp.path, cp.data, o.validate); err != nil {
				return "", err
			}
		}
		if o.backup && cp.exists {
			b, err := backup(ctx, h, cp.path)
			if err != nil {
				return "", err
			}
			backupFile = b
		}
		if o.parents && !cp.exists {
			if _, err := conn.MkdirAll(ctx, h.Conn(), path.Dir(cp.path)); err != nil {
				return "", err
			}
		}
		attrs, err := cp.writeAttrs()
		if err != nil {
			return backupFile, err
		}
		attrs.Planned = cp.planned
		err = h.Conn().WriteFile(ctx, cp.path, cp.data, attrs)
		if err != nil && cp.exists && cp.attrs.Owner == "" && cp.attrs.Group == "" && !errors.Is(err, conn.ErrChanged) {
			// Keeping the old owner needs chown, which an unprivileged
			// user may not do; like Ansible, write anyway as ourselves.
			attrs.Owner, attrs.Group = "", ""
			if h.Conn().WriteFile(ctx, cp.path, cp.data, attrs) == nil {
				h.Log().Warn("could not keep the owner of a replaced file", "path", cp.path, "owner", cp.info.Owner, "group", cp.info.Group, "err", err)
				err = nil
			}
		}
		if err != nil {
			return backupFile, fmt.Errorf("write %s: %w", cp.path, err)
		}
		return backupFile, nil
	}
	return backupFile, applyAttrs(ctx, h, cp.path, cp.fix)
}

// writeAttrs resolves the attributes of the replacement file: what was
// asked for, else what the old file had, so an edit never resets a mode
// or owner the user did not mention.
func (cp *contentPlan) writeAttrs() (conn.FileAttrs, error) {
	base := fs.FileMode(0o644)
	if cp.exists {
		base = cp.info.Mode & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
	}
	m, err := cp.attrs.Mode.Apply(base, false)
	if err != nil {
		return conn.FileAttrs{}, err
	}
	fa := conn.FileAttrs{Mode: m, Owner: cp.attrs.Owner, Group: cp.attrs.Group}
	if cp.exists {
		if fa.Owner == "" {
			fa.Owner = cp.info.Owner
		}
		if fa.Group == "" {
			fa.Group = cp.info.Group
		}
	}
	return fa, nil
}

// backup keeps a timestamped copy beside the file, named as Ansible names
// it, so people's cleanup scripts keep working.
func backup(ctx context.Context, h modules.Host, p string) (string, error) {
	dst := fmt.Sprintf("%s.%s~", p, time.Now().Format("2006-01-02@15:04:05.000000"))
	if err := run(ctx, h, conn.Join("cp", "-p", "--", p, dst)); err != nil {
		return "", fmt.Errorf("backup %s: %w", p, err)
	}
	return dst, nil
}

// validateContent writes data to a temporary file next to p and runs the
// validate command on it (%s is the file), as Ansible's validate does.
func validateContent(ctx context.Context, h modules.Host, p string, data []byte, validate string) error {
	tmp := path.Join(path.Dir(p), fmt.Sprintf(".%s.gpuctl-validate-%d", path.Base(p), time.Now().UnixNano()))
	if err := h.Conn().WriteFile(ctx, tmp, data, conn.FileAttrs{Mode: 0o600}); err != nil {
		return fmt.Errorf("validate %s: %w", p, err)
	}
	defer conn.Remove(context.WithoutCancel(ctx), h.Conn(), tmp)
	cmd := strings.ReplaceAll(validate, "%s", conn.Quote(tmp))
	r, err := h.Conn().Run(ctx, cmd)
	if err != nil {
		return fmt.Errorf("validate %s: %w", p, err)
	}
	if !r.OK() {
		return fmt.Errorf("validate %s: %q failed (rc %d): %s", p, validate, r.ExitCode, strings.TrimSpace(r.Stderr+r.Stdout))
	}
	return nil
}

func validateValidate(v string) error {
	if v != "" && !strings.Contains(v, "%s") {
		return fmt.Errorf("validate %q must contain %%s, the path of the file to check", v)
	}
	return nil
}

// absPath rejects relative paths: on a remote host they would be relative
// to wherever the connection happens to start.
func absPath(name, p string) error {
	if p == "" {
		return fmt.Errorf("missing required argument %q", name)
	}
	if !path.IsAbs(p) && !isHomePath(p) {
		return fmt.Errorf("%s %q must be an absolute path (or start at a home directory: ~/, ~user/)", name, p)
	}
	return nil
}

// stateOf recovers the plan Check left in the diff; an engine that lost it
// (a diff decoded from JSON) gets a fresh Check instead of a wrong apply.
func stateOf[T any](ctx context.Context, h modules.Host, d plan.Diff, check func(context.Context, modules.Host) (plan.Diff, error)) (T, error) {
	if p, ok := d.State.(T); ok {
		return p, nil
	}
	d, err := check(ctx, h)
	if err != nil {
		var zero T
		return zero, err
	}
	p, ok := d.State.(T)
	if !ok {
		var zero T
		return zero, fmt.Errorf("check left no plan (state %T)", d.State)
	}
	return p, nil
}

// fileResult is what file-writing modules register.
func fileResult(key, p, backupFile string) map[string]any {
	r := map[string]any{key: p}
	if backupFile != "" {
		r["backup_file"] = backupFile
	}
	return r
}
