package generic

import (
	"context"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

// copyDirPlan is a recursive copy: directories to create, then files.
type copyDirPlan struct {
	mkdirs []string
	files  []*contentPlan
}

// checkDir plans copying the controller directory src, as Ansible's copy
// does: symlinks on the controller are followed, files on the host that
// src does not have are left alone.
func (m *Copy) checkDir(ctx context.Context, h modules.Host, src string) (plan.Diff, error) {
	var d plan.Diff
	if m.ValidateCmd != "" {
		return d, errors.New("validate cannot be used when src is a directory")
	}
	root := m.Dest
	if !strings.HasSuffix(m.Src, "/") {
		root = path.Join(m.Dest, filepath.Base(src))
	}
	root = strings.TrimSuffix(root, "/")
	out, err := conn.Output(ctx, h.Local(), conn.Join("find", "-L", src, "-mindepth", "1",
		"(", "-type", "d", "-o", "-type", "f", ")", "-printf", `%y %P\0`))
	if err != nil {
		return d, fmt.Errorf("list src %s on the controller: %w", src, err)
	}
	dirs, files := []string{""}, []string(nil)
	for _, rec := range strings.Split(out, "\x00") {
		kind, rel, ok := strings.Cut(strings.TrimPrefix(rec, "\n"), " ")
		switch {
		case !ok:
		case kind == "d":
			dirs = append(dirs, rel)
		default:
			files = append(files, rel)
		}
	}
	sort.Strings(dirs) // parents before children
	sort.Strings(files)
	dp := &copyDirPlan{}
	for _, rel := range dirs {
		p := path.Join(root, filepath.ToSlash(rel))
		fi, ok, err := stat(ctx, h, p)
		switch {
		case err != nil:
			return d, err
		case !ok:
			dp.mkdirs = append(dp.mkdirs, p)
			d.Add(plan.Change{Resource: "file:" + p, Action: plan.Create, Field: "state", After: "directory"})
		case !fi.IsDir():
			return d, fmt.Errorf("%s exists and is a %s, not a directory", p, kind(fi))
		}
	}
	for _, rel := range files {
		local := filepath.Join(src, rel)
		want, err := h.Local().ReadFile(ctx, local)
		if err != nil {
			return d, fmt.Errorf("read src %s on the controller: %w", local, err)
		}
		p := path.Join(root, filepath.ToSlash(rel))
		cur, fi, exists, err := readFile(ctx, h, p)
		if err != nil {
			return d, err
		}
		if exists && !m.Force {
			want = cur
		}
		cp, err := planContent(ctx, h, "file:"+p, p, cur, fi, exists, want, m.Attrs, &d)
		if err != nil {
			return d, err
		}
		dp.files = append(dp.files, cp)
	}
	d.State, m.dest = dp, root
	return d, nil
}

func (dp *copyDirPlan) apply(ctx context.Context, h modules.Host, m *Copy) error {
	mode, err := m.DirMode.Apply(0o755, true)
	if err != nil {
		return err
	}
	fix := attrFix{Mode: mode, Chmod: m.DirMode != "", Owner: m.Owner, Group: m.Group}
	for _, p := range dp.mkdirs {
		if _, err := conn.MkdirAll(ctx, h.Conn(), p); err != nil {
			return err
		}
		if err := applyAttrs(ctx, h, p, fix); err != nil {
			return err
		}
	}
	for _, cp := range dp.files {
		if _, err := cp.apply(ctx, h, writeOpts{backup: m.Backup}); err != nil {
			return err
		}
	}
	return nil
}
