package engine

import (
	"context"
	"time"

	"github.com/gpuctl/gpuctl/playbooks"
)

// loopItemVars sets what ansible-core's loop_control gives item i of items
// besides the item itself: ansible_loop_var, index_var (and
// ansible_index_var) and, with extended, ansible_loop.
func loopItemVars(t *playbooks.Task, vars map[string]any, loopVar string, i int, items []any) {
	vars["ansible_loop_var"] = loopVar
	lc := t.LoopControl
	if lc.IndexVar != "" {
		vars[lc.IndexVar] = i
		vars["ansible_index_var"] = lc.IndexVar
	}
	if !lc.Extended {
		return
	}
	n := len(items)
	loop := map[string]any{
		"index": i + 1, "index0": i, "revindex": n - i, "revindex0": n - i - 1,
		"first": i == 0, "last": i == n-1, "length": n,
	}
	if i > 0 {
		loop["previtem"] = items[i-1]
	}
	if i < n-1 {
		loop["nextitem"] = items[i+1]
	}
	if lc.AllItems {
		loop["allitems"] = items
	}
	vars["ansible_loop"] = loop
}

// loopPause waits loop_control's pause before every item but the first.
func loopPause(ctx context.Context, t *playbooks.Task, i int) error {
	if i == 0 || t.LoopControl.Pause <= 0 {
		return nil
	}
	timer := time.NewTimer(time.Duration(t.LoopControl.Pause * float64(time.Second)))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}
