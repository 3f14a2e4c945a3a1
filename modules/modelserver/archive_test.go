package modelserver

import (
	"compress/gzip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/modules/moduletest"
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
		got, err := normalizeRef(in)
		if err != nil || got != want {
			t.Errorf("normalizeRef(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "Upper/Case", "a b", "x:", "a.io/b@sha256:1234"} {
		if _, err := normalizeRef(bad); err == nil {
			t.Errorf("normalizeRef(%q) accepted", bad)
		}
	}
}

func TestInspectArchives(t *testing.T) {
	dir := t.TempDir()
	img := tinyImage(t, "hello")
	id, _ := img.ConfigName()
	dg, _ := img.Digest()

	docker := dockerArchive(t, filepath.Join(dir, "pause.tar"), img, "registry.k8s.io/pause:3.10.1", "busybox:local")
	info, err := inspectLocal(docker)
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

	oci := ociArchive(t, filepath.Join(dir, "oci.tar"), img, "example.com/app:v1")
	info, err = inspectLocal(oci)
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
	info, err = inspectLocal(gz)
	if err != nil || info.Images[0].Config != id.String() {
		t.Fatalf("gzip: %+v %v", info, err)
	}

	notImage := writeFile(t, dir, "junk.tar", []byte(strings.Repeat("x", 2048)))
	if _, err := inspectLocal(notImage); err == nil {
		t.Fatal("junk accepted")
	}
}

func TestLocalArchives(t *testing.T) {
	dir := t.TempDir()
	img := tinyImage(t, "a")
	dockerArchive(t, filepath.Join(dir, "imgs", "a.tar"), img, "a.io/a:1")
	dockerArchive(t, filepath.Join(dir, "imgs", "b.tar"), img, "a.io/b:1")
	writeFile(t, filepath.Join(dir, "imgs"), "README", []byte("x"))
	h := moduletest.Local()
	h.V = map[string]any{"playbook_dir": dir}
	got, err := localArchives(h, []string{"imgs", "imgs/a.tar", "imgs/*.tar"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "imgs", "a.tar"), filepath.Join(dir, "imgs", "b.tar")}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v want %v", got, want)
	}
	if _, err := localArchives(h, []string{"nothing/*.tar"}); err == nil || !strings.Contains(err.Error(), "matches no file") {
		t.Fatalf("empty glob: %v", err)
	}
	if _, err := localArchives(h, []string{t.TempDir()}); err == nil || !strings.Contains(err.Error(), "holds no") {
		t.Fatalf("empty dir: %v", err)
	}
}
