// Package node holds the modules that prepare a Debian or Ubuntu server to
// run Kubernetes: swap, kernel prerequisites, apt, containerd, the
// Kubernetes packages, kubeadm and the preflight checks, plus the facts
// they share. Distribution differences live in distro.go only.
package node

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/internal/fileplan"
	"github.com/gpuctl/gpuctl/plan"
)

// step is one change together with the action that makes it. Check builds a
// list of steps and hands it to Apply through Diff.State, so that what is
// shown and what is done come from one computation. A nil do means the
// change is made by an earlier step of the same list.
type step struct {
	change plan.Change
	do     func(ctx context.Context, c conn.Conn) error
}

// steps accumulates the changes of one Check.
type steps struct {
	list  []step
	notes []string
}

func (s *steps) add(c plan.Change, do func(ctx context.Context, c conn.Conn) error) {
	s.list = append(s.list, step{change: c, do: do})
}

func (s *steps) note(format string, args ...any) {
	s.notes = append(s.notes, fmt.Sprintf(format, args...))
}

func (s *steps) merge(o *steps) {
	s.list = append(s.list, o.list...)
	s.notes = append(s.notes, o.notes...)
}

func (s *steps) empty() bool { return len(s.list) == 0 }

// diff renders the steps as a plan.Diff carrying them in State.
func (s *steps) diff() plan.Diff {
	d := plan.Diff{Notes: s.notes, State: s}
	for _, st := range s.list {
		d.Add(st.change)
	}
	return d
}

// run executes every step in order and stops at the first failure.
func (s *steps) run(ctx context.Context, c conn.Conn) error {
	for _, st := range s.list {
		if st.do == nil {
			continue
		}
		if err := st.do(ctx, c); err != nil {
			return fmt.Errorf("%s: %w", st.change.Resource, err)
		}
	}
	return nil
}

// applySteps is the Apply of every module whose Check returns steps.
func applySteps(ctx context.Context, h modules.Host, module string, d plan.Diff) error {
	s, err := modules.StateOf[*steps](h, module, d)
	if err != nil {
		return err
	}
	return s.run(ctx, h.Conn())
}

// output runs cmd on c and returns its trimmed stdout.
func output(ctx context.Context, c conn.Conn, cmd string, opts ...conn.ExecOption) (string, error) {
	return conn.Output(ctx, c, cmd, opts...)
}

// sh runs cmd and fails on a non-zero exit.
func sh(ctx context.Context, c conn.Conn, cmd string, opts ...conn.ExecOption) error {
	_, err := conn.Output(ctx, c, cmd, opts...)
	return err
}

// readFile returns the file's contents, or ok=false when it does not exist.
func readFile(ctx context.Context, c conn.Conn, p string) (data []byte, ok bool, err error) {
	data, err = c.ReadFile(ctx, p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read %s: %w", p, err)
	}
	return data, true, nil
}

// exists reports whether p exists on the host (without following a final
// symlink).
func exists(ctx context.Context, c conn.Conn, p string) (bool, error) {
	_, err := c.Stat(ctx, p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("stat %s: %w", p, err)
	}
	return true, nil
}

// addAll adds the changes of d as steps that do makes together: do runs
// with the first, the others follow from it.
func (s *steps) addAll(d plan.Diff, do func(ctx context.Context, c conn.Conn) error) {
	for i, c := range d.Changes {
		if i > 0 {
			do = nil
		}
		s.add(c, do)
	}
}

// fileStep adds a step that makes p hold content with mode, when it does not
// already, creating missing directories. sensitive hides the contents in
// every renderer.
func fileStep(ctx context.Context, c conn.Conn, s *steps, p string, content []byte, mode fs.FileMode, sensitive bool) error {
	var d plan.Diff
	f, err := fileplan.Check(ctx, c, fileplan.Want{Path: p, Content: content, Attrs: fileplan.Attrs{Mode: fileplan.Perm(mode)}, Sensitive: sensitive}, &d)
	if err != nil {
		return err
	}
	s.addAll(d, func(ctx context.Context, c conn.Conn) error {
		_, err := f.Apply(ctx, c, fileplan.Options{Parents: true})
		return err
	})
	return nil
}

// fileStepKeep adds a step that replaces the file cur, read earlier, with
// content, keeping an existing file's mode and owner as Ansible's
// atomic_move does.
func fileStepKeep(ctx context.Context, c conn.Conn, s *steps, cur fileplan.Current, content []byte) error {
	var d plan.Diff
	f, err := fileplan.Plan(ctx, c, cur, fileplan.Want{Path: cur.Path, Content: content}, &d)
	if err != nil {
		return err
	}
	s.addAll(d, func(ctx context.Context, c conn.Conn) error {
		_, err := f.Apply(ctx, c, fileplan.Options{})
		return err
	})
	return nil
}

// removeStep adds a step that deletes p when it exists.
func removeStep(ctx context.Context, c conn.Conn, s *steps, p string) error {
	var d plan.Diff
	g, err := fileplan.CheckAbsent(ctx, c, p, &d)
	if err != nil || g == nil {
		return err
	}
	s.addAll(d, g.Apply)
	return nil
}

// managedHeader starts every file gpuctl writes, so an operator who finds
// it knows where it comes from.
func managedHeader(module string) string {
	return "# Managed by gpuctl (" + module + " module); local edits are overwritten.\n"
}

// fields splits s on whitespace, dropping empty lines and comments.
func lines(s string) []string {
	var out []string
	for l := range strings.SplitSeq(s, "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

func decodeBase64(s string) ([]byte, error) {
	return base64.StdEncoding.DecodeString(strings.TrimSpace(s))
}

func firstBytes(b []byte) string {
	if len(b) > 16 {
		b = b[:16]
	}
	return string(b)
}

// durOr returns d, or def when d is unset; duration defaults live in code
// because struct-tag defaults are decoded without the duration hook.
func durOr(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
