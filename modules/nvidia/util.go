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

// fileEdit is a pending write of a managed file.
type fileEdit struct {
	Path, Before, After string
	Exists              bool
	Mode                fs.FileMode
}

// diffFile returns the edit that makes path hold want, or nil when it does.
func diffFile(ctx context.Context, c conn.Conn, path, want string) (*fileEdit, error) {
	have, ok, err := readIfExists(ctx, c, path)
	if err != nil {
		return nil, err
	}
	if ok && have == want {
		return nil, nil
	}
	return &fileEdit{Path: path, Before: have, After: want, Exists: ok}, nil
}

// Change renders the edit for the plan.
func (e *fileEdit) Change() plan.Change {
	a := plan.Update
	if !e.Exists {
		a = plan.Create
	}
	return plan.Change{Resource: "file:" + e.Path, Action: a, Field: "content", Before: e.Before, After: e.After, Content: true}
}

// Write applies the edit, creating the directory when needed.
func (e *fileEdit) Write(ctx context.Context, h modules.Host) error {
	dir := e.Path[:strings.LastIndex(e.Path, "/")+1]
	if dir != "" && dir != "/" {
		if _, err := run(ctx, h, "mkdir -p "+conn.Quote(dir)); err != nil {
			return err
		}
	}
	mode := e.Mode
	if mode == 0 {
		mode = 0o644
	}
	if err := h.Conn().WriteFile(ctx, e.Path, []byte(e.After), conn.FileAttrs{Mode: mode}); err != nil {
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
