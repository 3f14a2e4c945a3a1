package moduletest

import (
	"context"
	"testing"
	"time"

	"github.com/gpuctl/gpuctl/conn/ssh"
	"github.com/gpuctl/gpuctl/internal/testhosts"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

// Remote is a Host on a real Debian test host (internal/testhosts), reached
// as root over SSH as the engine reaches it: file work over SFTP, commands
// over SSH sessions.
type Remote struct {
	*Host
	TH testhosts.Host
}

// Start starts n test hosts (skipping, or failing under
// GPUCTL_TEST_HOSTS=require, where they cannot run) and dials each as root.
func Start(t testing.TB, n int, opts ...testhosts.Option) []*Remote {
	t.Helper()
	var out []*Remote
	for _, th := range testhosts.Start(t, n, opts...) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		c, err := ssh.Dial(ctx, ssh.Config{
			Host: th.Addr, Port: th.Port, User: testhosts.UserRoot,
			KeyFiles: []string{th.KeyFile}, NoAgent: true,
			KnownHostsFiles: []string{th.KnownHostsFile}, NoUserKnownHosts: true,
		})
		cancel()
		if err != nil {
			t.Fatalf("dial %s: %v", th.Name, err)
		}
		t.Cleanup(func() { c.Close() })
		h := Local()
		h.HostName, h.C = th.Name, c
		out = append(out, &Remote{Host: h, TH: th})
	}
	return out
}

// Timeline is the module contract on the remote host: check changes
// nothing under paths (testhosts.DefaultHashPaths and the given ones), apply
// then a fresh check and a second apply report nothing.
func (r *Remote) Timeline(t *testing.T, name string, args map[string]any, paths ...string) plan.Diff {
	t.Helper()
	return TimelineSnap(t, r.Host, r.snap(t, paths), name, args)
}

// TimelineModule is Timeline that also returns the applied module.
func (r *Remote) TimelineModule(t *testing.T, name string, args map[string]any, paths ...string) (plan.Diff, modules.Module) {
	t.Helper()
	return TimelineModule(t, r.Host, r.snap(t, paths), name, args)
}

// Snap returns a snapshot function of the host's files for TimelineSnap.
func (r *Remote) snap(t *testing.T, paths []string) func() string {
	all := append(append([]string{}, testhosts.DefaultHashPaths...), paths...)
	return func() string { return r.TH.Snapshot(t, all...) }
}

// NoChange asserts that a fresh module has nothing to do on the host.
func (r *Remote) NoChange(t *testing.T, name string, args map[string]any) map[string]any {
	t.Helper()
	return NoChange(t, r.Host, name, args)
}

// CheckOnly runs one check as --check does.
func (r *Remote) CheckOnly(t *testing.T, name string, args map[string]any) (plan.Diff, error) {
	t.Helper()
	return CheckOnly(t, r.Host, name, args)
}

// Apply runs one task as a real run does.
func (r *Remote) Apply(t *testing.T, name string, args map[string]any) (plan.Diff, map[string]any, error) {
	t.Helper()
	return Apply(t, r.Host, name, args)
}

// Run runs cmd as root on the host and returns its trimmed output.
func (r *Remote) Run(t *testing.T, cmd string) string {
	t.Helper()
	return r.TH.Run(t, cmd)
}
