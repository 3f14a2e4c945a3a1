package kube

import (
	"context"
	"os"
	"testing"

	"github.com/gpuctl/gpuctl/internal/kubetest"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/moduletest"
	"github.com/gpuctl/gpuctl/plan"
)

func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }

// newHost is the control-plane host: this machine, whose kubeconfig is the
// fixture's, with node_name set when node is given.
func newHost(t testing.TB, cl *kubetest.Cluster, node string) *moduletest.Host {
	h := moduletest.Local()
	h.HostName, h.TB = "cp1", t
	h.V = map[string]any{"kubeconfig": cl.KubeconfigPath, "node_name": node}
	return h
}

func check(t testing.TB, h modules.Host, m modules.Module) plan.Diff {
	t.Helper()
	d, err := m.Check(context.Background(), h)
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	return d
}

// converge is the module timeline (moduletest.TimelineSnap) against the
// cluster; it returns the check-mode diff.
func converge(t *testing.T, h modules.Host, name string, args map[string]any) plan.Diff {
	t.Helper()
	return moduletest.TimelineSnap(t, h, nil, name, args)
}

func logDiff(t testing.TB, d plan.Diff) {
	t.Helper()
	for _, c := range d.Changes {
		t.Logf("%s %s %s\n  before: %s\n  after: %s", c.Action.Symbol(), c.Resource, c.Field, c.Before, c.After)
	}
	for _, n := range d.Notes {
		t.Logf("note: %s", n)
	}
}
