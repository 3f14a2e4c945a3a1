package nvidia

import (
	"context"
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

func init() {
	modules.RegisterFacts(modules.FactGatherer{Name: "gpu", Gather: GatherGPUFacts})
}

// run runs cmd and returns its output, or an error naming the host.
func run(ctx context.Context, h modules.Host, cmd string) (string, error) {
	out, err := conn.Output(ctx, h.Conn(), cmd)
	if err != nil {
		return out, fmt.Errorf("%s: %w", h.Name(), err)
	}
	return out, nil
}

// candidate returns apt's candidate version of pkg, "" when apt knows none.
func candidate(ctx context.Context, c conn.Conn, pkg string) (string, error) {
	r, err := c.Run(ctx, "LC_ALL=C apt-cache policy "+conn.Quote(pkg))
	if err != nil {
		return "", fmt.Errorf("apt-cache policy %s: %w", pkg, err)
	}
	return parseCandidate(r.Stdout), nil
}

func parseCandidate(out string) string {
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "Candidate:"); ok {
			v = strings.TrimSpace(v)
			if v == "(none)" {
				return ""
			}
			return v
		}
	}
	return ""
}

// readIfExists returns a file's content and whether it exists.
func readIfExists(ctx context.Context, c conn.Conn, path string) (string, bool, error) {
	b, err := c.ReadFile(ctx, path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read %s: %w", path, err)
	}
	return string(b), true, nil
}

// fileEdit is a pending write of a managed file, planned by fileplan: its
// changes and how to write or undo it.
type fileEdit struct {
	*fileplan.File
	changes []plan.Change
}

// diffFile returns the edit that makes path hold want (an existing file
// keeps its mode and owner, a new one gets 0644), or nil when it does.
func diffFile(ctx context.Context, c conn.Conn, path, want string) (*fileEdit, error) {
	var d plan.Diff
	f, err := fileplan.Check(ctx, c, fileplan.Want{Path: path, Content: []byte(want)}, &d)
	if err != nil || !f.Changed() {
		return nil, err
	}
	return &fileEdit{File: f, changes: d.Changes}, nil
}

// addTo adds the edit's changes to d.
func (e *fileEdit) addTo(d *plan.Diff) {
	for _, c := range e.changes {
		d.Add(c)
	}
}

// Write applies the edit, creating the directory when needed.
func (e *fileEdit) Write(ctx context.Context, h modules.Host) error {
	if _, err := e.Apply(ctx, h.Conn(), fileplan.Options{Parents: true, Log: h.Log()}); err != nil {
		return fmt.Errorf("%s: %w", h.Name(), err)
	}
	return nil
}

// waitFor polls probe until it succeeds or timeout passes.
func waitFor(ctx context.Context, timeout time.Duration, probe func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := probe()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// pkgState is one package as dpkg sees it.
type pkgState struct {
	version string
	held    bool
}

// packageStates reads the packages that are installed (dpkg status ii or,
// held, hi); a package absent from the map is not installed. dpkg-query
// exits 1 when some package is unknown, which is not an error here.
func packageStates(ctx context.Context, c conn.Conn, pkgs []string) (map[string]pkgState, error) {
	r, err := c.Run(ctx, "LC_ALL=C dpkg-query -W -f='${Package} ${Version} ${db:Status-Abbrev}\\n' "+conn.Join(pkgs...)+" 2>/dev/null")
	if err != nil {
		return nil, fmt.Errorf("dpkg-query: %w", err)
	}
	m := map[string]pkgState{}
	for _, line := range strings.Split(r.Stdout, "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && (f[2] == "ii" || f[2] == "hi") {
			m[f[0]] = pkgState{version: f[1], held: f[2] == "hi"}
		}
	}
	return m, nil
}
