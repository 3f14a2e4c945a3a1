package fileplan

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"strings"
	"time"

	"github.com/gpuctl/gpuctl/conn"
)

// Options shape how Apply replaces a file (Ansible's backup, validate and
// lineinfile's create).
type Options struct {
	Backup   bool   // keep a timestamped copy of the old file beside it
	Validate string // command run on the new contents first; %s is the file
	Parents  bool   // create missing parent directories
	Log      *slog.Logger
}

// Apply writes the file (atomically, through the connection) or fixes its
// metadata, as Check planned. It returns the backup's path when one was
// made.
func (f *File) Apply(ctx context.Context, c conn.Conn, o Options) (string, error) {
	if !f.Write {
		return "", f.Fix.Apply(ctx, c, f.Path)
	}
	if o.Validate != "" {
		if err := validate(ctx, c, f.Path, f.Want, o.Validate); err != nil {
			return "", err
		}
	}
	var backupFile string
	if o.Backup && f.Exists {
		b, err := Backup(ctx, c, f.Path)
		if err != nil {
			return "", err
		}
		backupFile = b
	}
	if o.Parents && !f.Exists {
		if _, err := conn.MkdirAll(ctx, c, path.Dir(f.Path)); err != nil {
			return backupFile, err
		}
	}
	attrs, err := f.writeAttrs()
	if err != nil {
		return backupFile, err
	}
	attrs.Planned = f.planned
	err = c.WriteFile(ctx, f.Path, f.Want, attrs)
	if err != nil && f.Exists && f.Attrs.Owner == "" && f.Attrs.Group == "" && !errors.Is(err, conn.ErrChanged) {
		// Keeping the old owner needs chown, which an unprivileged user
		// may not do; like Ansible, write anyway as ourselves.
		attrs.Owner, attrs.Group = "", ""
		if c.WriteFile(ctx, f.Path, f.Want, attrs) == nil {
			if o.Log != nil {
				o.Log.Warn("could not keep the owner of a replaced file", "path", f.Path, "owner", f.Info.Owner, "group", f.Info.Group, "err", err)
			}
			err = nil
		}
	}
	if err != nil {
		return backupFile, fmt.Errorf("write %s: %w", f.Path, err)
	}
	return backupFile, nil
}

// writeAttrs resolves the attributes of the replacement file: what was
// asked for, else what the old file had, so an edit never resets a mode or
// owner the module did not mention.
func (f *File) writeAttrs() (conn.FileAttrs, error) {
	base := NewFileMode
	if f.Exists {
		base = f.Info.Mode & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
	}
	m := base
	if f.Attrs.Mode != nil {
		var err error
		if m, err = f.Attrs.Mode.Apply(base, false); err != nil {
			return conn.FileAttrs{}, err
		}
	}
	fa := conn.FileAttrs{Mode: m, Owner: f.Attrs.Owner, Group: f.Attrs.Group}
	if f.Exists {
		if fa.Owner == "" {
			fa.Owner = f.Info.Owner
		}
		if fa.Group == "" {
			fa.Group = f.Info.Group
		}
	}
	return fa, nil
}

// Restore puts back what Check found: the old contents, mode and owner, or
// no file at all. A module that proves a change on the host after writing
// it (containerd config dump) undoes the write with it.
func (f *File) Restore(ctx context.Context, c conn.Conn) error {
	if !f.Exists {
		return conn.Remove(ctx, c, f.Path)
	}
	attrs := conn.FileAttrs{Mode: f.Info.Mode & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky), Owner: f.Info.Owner, Group: f.Info.Group}
	if err := c.WriteFile(ctx, f.Path, f.Data, attrs); err != nil {
		return fmt.Errorf("restore %s: %w", f.Path, err)
	}
	return nil
}

// Backup keeps a timestamped copy beside the file, named as Ansible names
// it, so people's cleanup scripts keep working.
func Backup(ctx context.Context, c conn.Conn, p string) (string, error) {
	dst := fmt.Sprintf("%s.%s~", p, time.Now().Format("2006-01-02@15:04:05.000000"))
	if _, err := conn.Output(ctx, c, conn.Join("cp", "-p", "--", p, dst)); err != nil {
		return "", fmt.Errorf("backup %s: %w", p, err)
	}
	return dst, nil
}

// validate writes data to a temporary file next to p and runs the validate
// command on it (%s is the file), as Ansible's validate does.
func validate(ctx context.Context, c conn.Conn, p string, data []byte, cmd string) error {
	tmp := path.Join(path.Dir(p), fmt.Sprintf(".%s.gpuctl-validate-%d", path.Base(p), time.Now().UnixNano()))
	if err := c.WriteFile(ctx, tmp, data, conn.FileAttrs{Mode: 0o600}); err != nil {
		return fmt.Errorf("validate %s: %w", p, err)
	}
	defer conn.Remove(context.WithoutCancel(ctx), c, tmp)
	r, err := c.Run(ctx, strings.ReplaceAll(cmd, "%s", conn.Quote(tmp)))
	if err != nil {
		return fmt.Errorf("validate %s: %w", p, err)
	}
	if !r.OK() {
		return fmt.Errorf("validate %s: %q failed (rc %d): %s", p, cmd, r.ExitCode, strings.TrimSpace(r.Stderr+r.Stdout))
	}
	return nil
}
