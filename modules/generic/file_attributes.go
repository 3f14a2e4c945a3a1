package generic

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

// chattrFlags are the letters lsattr prints and chattr takes.
const chattrFlags = "aAcCdDeFijmPsStTuxX"

// parseAttributes splits Ansible's attributes into chattr's operator
// (+, - or =) and its letters.
func parseAttributes(s string) (op byte, flags string, err error) {
	op, flags = '=', s
	if s != "" && (s[0] == '+' || s[0] == '-' || s[0] == '=') {
		op, flags = s[0], s[1:]
	}
	if flags == "" && op != '=' {
		return 0, "", fmt.Errorf("attributes %q names no flag", s)
	}
	for _, c := range flags {
		if !strings.ContainsRune(chattrFlags, c) {
			return 0, "", fmt.Errorf("attributes %q: %q is not one of lsattr's flags (%s)", s, c, chattrFlags)
		}
	}
	return op, flags, nil
}

// checkAttributes compares the path's flags (lsattr -d) with attributes.
// Ansible's file module reports "-x" as changed on every run, and "+x"
// whenever the flags are not exactly x; gpuctl reports only what chattr
// would change, so a second run changes nothing.
func (m *File) checkAttributes(ctx context.Context, h modules.Host, op *fileOp, d *plan.Diff) error {
	mod, want, err := parseAttributes(m.Attributes)
	if err != nil {
		return err
	}
	target := op.fixPath
	res := "file:" + target
	cur := ""
	if !op.create && !op.mkdir {
		out, err := conn.Output(ctx, h.Conn(), conn.Join("lsattr", "-d", "--", target))
		if err != nil {
			return fmt.Errorf("attributes: %w", err)
		}
		if f := strings.Fields(out); len(f) > 0 {
			cur = strings.ReplaceAll(f[0], "-", "")
		}
	}
	has := func(c rune) bool { return strings.ContainsRune(cur, c) }
	changed := false
	switch mod {
	case '+':
		changed = strings.IndexFunc(want, func(c rune) bool { return !has(c) }) >= 0
	case '-':
		changed = strings.IndexFunc(want, has) >= 0
	default:
		a, b := []rune(cur), []rune(want)
		slices.Sort(a)
		slices.Sort(b)
		changed = !slices.Equal(a, b)
	}
	if !changed {
		return nil
	}
	op.chattr = string(mod) + want
	// clearing immutable or append-only first: while set, they refuse
	// the other changes (a touch, a chmod)
	op.chattrFirst = (mod == '-' || mod == '=') && (has('i') || has('a'))
	d.Add(plan.Change{Resource: res, Action: plan.Update, Field: "attributes", Before: cur, After: op.chattr})
	return nil
}

func chattr(ctx context.Context, h modules.Host, spec, path string) error {
	if err := run(ctx, h, "chattr "+conn.Quote(spec)+" -- "+conn.Quote(path)); err != nil {
		return fmt.Errorf("attributes: %w", err)
	}
	return nil
}

var _ modules.Module = (*File)(nil)
