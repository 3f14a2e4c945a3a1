package fileplan

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/plan"
)

// Gone is a planned removal of a file that exists.
type Gone struct{ Path string }

// CheckAbsent plans the removal of p when it exists, showing what goes. It
// returns nil when there is nothing to remove.
func CheckAbsent(ctx context.Context, c conn.Conn, p string, d *plan.Diff) (*Gone, error) {
	cur, err := Read(ctx, c, p)
	if err != nil || !cur.Exists {
		return nil, err
	}
	ch := plan.Change{Resource: "file:" + p, Action: plan.Delete, Before: string(cur.Data), Content: true}
	if !isText(cur.Data) {
		ch.Before, ch.Content = summary(cur.Data), false
	}
	d.Add(ch)
	return &Gone{Path: p}, nil
}

// Apply removes the file; one already gone is no error.
func (g *Gone) Apply(ctx context.Context, c conn.Conn) error {
	if err := conn.Remove(ctx, c, g.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", g.Path, err)
	}
	return nil
}
