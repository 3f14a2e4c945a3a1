package node

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/moduletest"
)

// BenchmarkNoChangeCheck measures what a second run costs per module: one
// Check over SSH on a Debian 12 host where there is nothing left to do.
//
//	go test ./modules/node -run XXX -bench NoChangeCheck -benchtime 10x
func BenchmarkNoChangeCheck(b *testing.B) {
	h := moduletest.Start(b, 1)[0]
	c := h.C
	dir := b.TempDir()
	for _, n := range []string{"kubelet", "kubeadm", "kubectl"} {
		bin, _ := os.ReadFile("/bin/true")
		os.WriteFile(filepath.Join(dir, n), append(bin, []byte("v1.34.4")...), 0o755)
	}
	tasks := []struct {
		name string
		args map[string]any
	}{
		{"swap", map[string]any{}},
		{"containerd", map[string]any{"config_overrides": nspawnContainerd}},
		{"kubernetes_packages", map[string]any{"version": "1.34.4", "source": "binaries", "binaries_dir": dir}},
		{"apt", map[string]any{"name": []any{"containerd", "runc", "conntrack"}, "hold": true}},
		{"kubeadm", map[string]any{"health_timeout": "1s", "fetch_admin_conf": ""}},
		{"preflight", map[string]any{"skip": []any{"ip_forward", "ports", "memory", "cpu"}}},
	}
	ctx := context.Background()
	for _, tc := range tasks {
		m, err := modules.New(tc.name, tc.args)
		if err != nil {
			b.Fatal(err)
		}
		if d, err := m.Check(ctx, h); err == nil && !d.Empty() && tc.name != "kubeadm" {
			if err := m.Apply(ctx, h, d); err != nil {
				b.Fatalf("%s: %v", tc.name, err)
			}
		}
	}
	for _, tc := range tasks {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				m, _ := modules.New(tc.name, tc.args)
				d, err := m.Check(ctx, h)
				if err != nil {
					b.Fatal(err)
				}
				if !d.Empty() && tc.name != "kubeadm" {
					b.Fatalf("%s still has changes", tc.name)
				}
			}
		})
	}
	b.Run("GatherNodeFacts", func(b *testing.B) {
		for b.Loop() {
			if _, err := GatherNodeFacts(ctx, conn.Conn(c)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
