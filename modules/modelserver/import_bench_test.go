package modelserver

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/gpuctl/gpuctl/modules/modelserver/image"
	"github.com/gpuctl/gpuctl/modules/modelserver/internal/imagetest"
	"github.com/gpuctl/gpuctl/modules/moduletest"
)

// TestImageImportThroughput measures the air-gap path the kubeadm
// end-to-end test takes: ten archives of 10-100 MB (incompressible, so the
// link is what is measured) imported over SSH into Debian's containerd,
// then the no-change check of a re-run. It prints a table and asserts no
// timing. GPUCTL_BENCH_IMPORT=1 runs it.
func TestImageImportThroughput(t *testing.T) {
	if os.Getenv("GPUCTL_BENCH_IMPORT") == "" {
		t.Skip("set GPUCTL_BENCH_IMPORT=1 to measure image_import throughput")
	}
	h := containerdHost(t)
	dir := t.TempDir()
	var total int64
	for i := range 10 {
		size := (10 + 10*i) << 20
		data, err := image.LayerTar([]image.LayerFile{{Path: fmt.Sprintf("/data/blob%d", i), Mode: 0o644, Data: imagetest.RandomBytes(t, size)}})
		if err != nil {
			t.Fatal(err)
		}
		l, err := tarball.LayerFromReader(bytes.NewReader(data), tarball.WithCompressionLevel(0))
		if err != nil {
			t.Fatal(err)
		}
		img, err := mutate.AppendLayers(empty.Image, l)
		if err != nil {
			t.Fatal(err)
		}
		cf, _ := img.ConfigFile()
		cf = cf.DeepCopy()
		cf.OS, cf.Architecture = "linux", "amd64"
		if img, err = mutate.ConfigFile(img, cf); err != nil {
			t.Fatal(err)
		}
		p := imagetest.DockerArchive(t, filepath.Join(dir, fmt.Sprintf("img%02d.tar", i)), img, fmt.Sprintf("registry.k8s.io/bench%d:v1", i))
		fi, _ := os.Stat(p)
		total += fi.Size()
	}
	args := map[string]any{"archives": []any{dir}, "snapshotter": "native"}
	ctx := context.Background()
	var rows []string
	measure := func(what string, f func() error) {
		start := time.Now()
		if err := f(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		el := time.Since(start)
		rows = append(rows, fmt.Sprintf("%-28s %8.2f s %8.1f MB/s", what, el.Seconds(), float64(total)/1e6/el.Seconds()))
	}
	m := moduletest.New(t, "image_import", args)
	measure("check (nothing imported)", func() error { _, err := m.Check(ctx, h); return err })
	d, _ := m.Check(ctx, h)
	measure("apply (upload + import)", func() error { return m.Apply(ctx, h, d) })
	measure("check (re-run, no change)", func() error {
		d, err := moduletest.New(t, "image_import", args).Check(ctx, h)
		if err == nil && !d.Empty() {
			err = fmt.Errorf("not empty:\n%s", moduletest.Describe(d))
		}
		return err
	})
	t.Logf("10 archives, %.0f MB in all, over SSH to %s:\n%-28s %10s %13s\n%s", float64(total)/1e6, h.TH.Name, "step", "time", "archive MB/s", strings.Join(rows, "\n"))
}
