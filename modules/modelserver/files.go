package modelserver

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

// syncItem is a controller file that should be on the host with this hash.
type syncItem struct {
	Local  string
	Remote string
	Hash   string // sha256 hex of the local file
	Size   int64
	Mode   fs.FileMode
}

// fileSync is the files whose hash differs on the host.
type fileSync struct {
	items []syncItem
	diff  plan.Diff
}

// remoteHashes returns sha256 hex by path for the paths that exist.
func remoteHashes(ctx context.Context, c conn.Conn, paths []string) (map[string]string, error) {
	var q []string
	for _, p := range paths {
		q = append(q, conn.Quote(p))
	}
	res, err := c.Run(ctx, "for f in "+strings.Join(q, " ")+`; do [ -f "$f" ] && LC_ALL=C sha256sum -- "$f"; done; true`)
	if err != nil {
		return nil, err
	}
	if res.ExitCode != 0 {
		return nil, fmt.Errorf("sha256sum: %s", strings.TrimSpace(res.Stderr))
	}
	out := map[string]string{}
	for _, l := range strings.Split(res.Stdout, "\n") {
		h, p, ok := strings.Cut(l, "  ")
		if ok {
			out[strings.TrimPrefix(p, "\\")] = strings.TrimPrefix(h, "\\")
		}
	}
	return out, nil
}

// planSync compares files by hash, so a 100 MB binary is uploaded only when
// it changed.
func planSync(ctx context.Context, h modules.Host, items []syncItem) (*fileSync, error) {
	var paths []string
	for _, it := range items {
		paths = append(paths, it.Remote)
	}
	have, err := remoteHashes(ctx, h.Conn(), paths)
	if err != nil {
		return nil, fmt.Errorf("host %s: %w", h.Name(), err)
	}
	fsync := &fileSync{}
	for _, it := range items {
		got, ok := have[it.Remote]
		if ok && got == it.Hash {
			continue
		}
		c := plan.Change{Resource: "file:" + it.Remote, Action: plan.Create, After: fmt.Sprintf("sha256:%s (%s from %s)", it.Hash[:12], humanBytes(it.Size), it.Local)}
		if ok {
			c.Action, c.Field, c.Before = plan.Update, "content", "sha256:"+got[:min(12, len(got))]
		}
		fsync.diff.Add(c)
		fsync.items = append(fsync.items, it)
	}
	return fsync, nil
}

func (s *fileSync) changed() bool { return s != nil && len(s.items) > 0 }

func (s *fileSync) apply(ctx context.Context, h modules.Host) error {
	if s == nil {
		return nil
	}
	made := map[string]bool{}
	for _, it := range s.items {
		dir := path.Dir(it.Remote)
		if !made[dir] {
			if _, err := conn.Output(ctx, h.Conn(), "mkdir -p "+conn.Quote(dir)); err != nil {
				return fmt.Errorf("host %s: create %s: %w", h.Name(), dir, err)
			}
			made[dir] = true
		}
		data, err := os.ReadFile(it.Local)
		if err != nil {
			return fmt.Errorf("read %s: %w", it.Local, err)
		}
		if err := h.Conn().WriteFile(ctx, it.Remote, data, conn.FileAttrs{Mode: it.Mode}); err != nil {
			return fmt.Errorf("host %s: write %s: %w", h.Name(), it.Remote, err)
		}
	}
	return nil
}

// planFiles places model files under dir on the host.
func planFiles(ctx context.Context, h modules.Host, dir string, files []modelFile) (*fileSync, error) {
	var items []syncItem
	for _, f := range files {
		items = append(items, syncItem{Local: f.Local, Remote: path.Join(dir, f.Rel), Hash: f.Hash, Size: f.Size, Mode: 0o644})
	}
	return planSync(ctx, h, items)
}
