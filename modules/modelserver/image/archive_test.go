package image

import (
	"compress/gzip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/modules/modelserver/internal/imagetest"
)

func TestNormalizeRef(t *testing.T) {
	for in, want := range map[string]string{
		"busybox":                                  "docker.io/library/busybox:latest",
		"busybox:1.36":                             "docker.io/library/busybox:1.36",
		"flannel/flannel:v0.28.10":                 "docker.io/flannel/flannel:v0.28.10",
		"docker.io/flannel/flannel:v1":             "docker.io/flannel/flannel:v1",
		"index.docker.io/library/redis:7":          "docker.io/library/redis:7",
		"registry.k8s.io/pause:3.10.1":             "registry.k8s.io/pause:3.10.1",
		"localhost:5000/x":                         "localhost:5000/x:latest",
		"localhost/x:y":                            "localhost/x:y",
		"gpuctl.local/model-server:abc123":         "gpuctl.local/model-server:abc123",
		"registry.k8s.io/coredns/coredns:v1.12.1":  "registry.k8s.io/coredns/coredns:v1.12.1",
		"a.io/b@sha256:" + strings.Repeat("a", 64): "a.io/b@sha256:" + strings.Repeat("a", 64),
	} {
		got, err := NormalizeRef(in)
		if err != nil || got != want {
			t.Errorf("NormalizeRef(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "Upper/Case", "a b", "x:", "a.io/b@sha256:1234"} {
		if _, err := NormalizeRef(bad); err == nil {
			t.Errorf("NormalizeRef(%q) accepted", bad)
		}
	}
}

func TestInspectArchives(t *testing.T) {
	dir := t.TempDir()
	img := imagetest.TinyImage(t, "hello")
	id, _ := img.ConfigName()
	dg, _ := img.Digest()

	docker := imagetest.DockerArchive(t, filepath.Join(dir, "pause.tar"), img, "registry.k8s.io/pause:3.10.1", "busybox:local")
	info, err := InspectLocal(docker)
	if err != nil {
		t.Fatal(err)
	}
	if info.Format != "docker" || len(info.Images) != 1 || info.Images[0].Config != id.String() || info.Images[0].Target != "" {
		t.Fatalf("docker: %+v", info)
	}
	refs := slices.Sorted(slices.Values(info.Images[0].Refs))
	if !slices.Equal(refs, []string{"docker.io/library/busybox:local", "registry.k8s.io/pause:3.10.1"}) {
		t.Fatalf("refs %v", refs)
	}

	oci := imagetest.OCIArchive(t, filepath.Join(dir, "oci.tar"), img, "example.com/app:v1")
	info, err = InspectLocal(oci)
	if err != nil {
		t.Fatal(err)
	}
	if info.Format != "oci" || len(info.Images) != 1 || info.Images[0].Target != dg.String() || info.Images[0].Refs[0] != "example.com/app:v1" {
		t.Fatalf("oci: %+v", info)
	}

	// gzip-compressed archives are read in one streaming pass.
	gz := filepath.Join(dir, "pause.tar.gz")
	f, _ := os.Create(gz)
	zw := gzip.NewWriter(f)
	zw.Write([]byte(mustRead(t, docker)))
	zw.Close()
	f.Close()
	info, err = InspectLocal(gz)
	if err != nil || info.Images[0].Config != id.String() {
		t.Fatalf("gzip: %+v %v", info, err)
	}

	notImage := imagetest.WriteFile(t, dir, "junk.tar", []byte(strings.Repeat("x", 2048)))
	if _, err := InspectLocal(notImage); err == nil {
		t.Fatal("junk accepted")
	}
}
