package generic

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/internal/fileplan"
	"github.com/gpuctl/gpuctl/plan"
)

// contentPlan is what Check found for one file whose whole contents a
// module computes (copy, template, lineinfile, replace); Apply carries it
// out without reading the host again. The planning is fileplan's, shared
// with every module family.
type contentPlan struct{ *fileplan.File }

// readFile returns a file's contents and info; exists is false when it is
// missing. A directory is an error: these modules only manage files.
func readFile(ctx context.Context, h modules.Host, p string) (data []byte, fi conn.FileInfo, exists bool, err error) {
	cur, err := fileplan.Read(ctx, h.Conn(), p)
	return cur.Data, cur.Info, cur.Exists, err
}

// readReal is readFile for modules that edit a file in place (lineinfile,
// replace): like Ansible they follow symlinks and edit the target, so
// /etc/resolv.conf stays a link to systemd-resolved's file.
func readReal(ctx context.Context, h modules.Host, p string) (real string, data []byte, fi conn.FileInfo, exists bool, err error) {
	cur, err := fileplan.ReadReal(ctx, h.Conn(), p)
	return cur.Path, cur.Data, cur.Info, cur.Exists, err
}

// planContent compares the host's file p with want and describes the
// difference in d as changes of res ("file:" and the path the user
// named). Content changes come first, then mode and owner; a new file
// lists the mode and owner the user asked for.
func planContent(ctx context.Context, h modules.Host, res, p string, cur []byte, fi conn.FileInfo, exists bool, want []byte, a Attrs, d *plan.Diff) (*contentPlan, error) {
	f, err := fileplan.Plan(ctx, h.Conn(), fileplan.Current{Path: p, Data: cur, Info: fi, Exists: exists},
		fileplan.Want{Path: p, Resource: res, Content: want, Attrs: a.plan(), ListNewAttrs: true}, d)
	if err != nil {
		return nil, err
	}
	return &contentPlan{f}, nil
}

// contentChange shows text as a unified diff and binary data as a summary.
func contentChange(res string, act plan.Action, before, after []byte) plan.Change {
	return fileplan.ContentChange(res, act, before, after)
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
	return cp.File.Apply(ctx, h.Conn(), fileplan.Options{Backup: o.backup, Validate: o.validate, Parents: o.parents, Log: h.Log()})
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

// fileResult is what file-writing modules register.
func fileResult(key, p, backupFile string) map[string]any {
	r := map[string]any{key: p}
	if backupFile != "" {
		r["backup_file"] = backupFile
	}
	return r
}
