package generic

import (
	"context"
	"errors"
	"path"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
)

// globExists reports whether anything on the host matches the glob p,
// walking only the directories the pattern names over the connection's
// file operations: a listing per wildcard component, no process. Like the
// shell, a wildcard does not match a leading dot unless the pattern has
// one. ok is false when the connection cannot list directories or p is
// relative.
func globExists(ctx context.Context, h modules.Host, p string) (found, ok bool, err error) {
	if !path.IsAbs(p) {
		return false, false, nil // relative to the login's home: the shell knows it
	}
	parts := strings.Split(strings.TrimPrefix(path.Clean(p), "/"), "/")
	found, err = globWalk(ctx, h, "/", parts)
	if errors.Is(err, conn.ErrNotSupported) {
		return false, false, nil
	}
	return found, true, err
}

func globWalk(ctx context.Context, h modules.Host, dir string, parts []string) (bool, error) {
	if len(parts) == 0 {
		return true, nil
	}
	part := parts[0]
	if !hasGlob(part) {
		next := path.Join(dir, part)
		if _, ok, err := stat(ctx, h, next); err != nil || !ok {
			return false, err
		}
		return globWalk(ctx, h, next, parts[1:])
	}
	entries, err := conn.ReadDir(ctx, h.Conn(), dir)
	if err != nil {
		if _, ok, serr := stat(ctx, h, dir); serr == nil && !ok {
			return false, nil
		}
		return false, err
	}
	for _, e := range entries {
		name := path.Base(e.Path)
		if strings.HasPrefix(name, ".") && !strings.HasPrefix(part, ".") {
			continue
		}
		if match, err := path.Match(part, name); err != nil || !match {
			continue
		}
		if len(parts) > 1 && !e.IsDir() && !e.IsLink() {
			continue
		}
		if found, err := globWalk(ctx, h, path.Join(dir, name), parts[1:]); err != nil || found {
			return found, err
		}
	}
	return false, nil
}
