// Package imagetest holds the test helpers the modelserver packages share:
// files, small images and archives, and the seed model on disk.
package imagetest

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// WriteFile writes data to a file in t's temp dir.
func WriteFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func RandomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// TinyImage is a one-layer image with a file of the given content.
func TinyImage(t testing.TB, content string) v1.Image {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "hello.txt", Mode: 0o644, Size: int64(len(content))}); err != nil {
		t.Fatal(err)
	}
	tw.Write([]byte(content))
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	l, err := tarball.LayerFromReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, l)
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = "amd64", "linux"
	cf.Config.Entrypoint = []string{"/hello"}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// DockerArchive writes img as a docker save archive with the given tags.
func DockerArchive(t testing.TB, p string, img v1.Image, tags ...string) string {
	t.Helper()
	refs := map[name.Reference]v1.Image{}
	for _, tg := range tags {
		tag, err := name.NewTag(tg)
		if err != nil {
			t.Fatal(err)
		}
		refs[tag] = img
	}
	os.MkdirAll(filepath.Dir(p), 0o755)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := tarball.MultiRefWrite(refs, f); err != nil {
		t.Fatal(err)
	}
	return p
}

// OCIArchive writes img as an OCI layout tarball whose index names it.
func OCIArchive(t testing.TB, p string, img v1.Image, ref string) string {
	t.Helper()
	dir := t.TempDir()
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{
		"io.containerd.image.name":          ref,
		"org.opencontainers.image.ref.name": "v1",
	})); err != nil {
		t.Fatal(err)
	}
	TarDir(t, dir, p)
	return p
}

// TarDir packs a directory's files into an uncompressed tar.
func TarDir(t testing.TB, dir, out string) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: rel, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err = tw.Write(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	tw.Close()
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// SeedModel writes a Linear(10, 1) model export (architecture JSON and
// safetensors) like the seed's, with weights 0.1·(i+1) and bias 0.5.
func SeedModel(t testing.TB, dir string) string {
	t.Helper()
	w := make([]float32, 10)
	for i := range w {
		w[i] = 0.1 * float32(i+1)
	}
	st := Safetensors(t, map[string]Tensor{
		"linear.weight": {shape: []int{1, 10}, data: w},
		"linear.bias":   {shape: []int{1}, data: []float32{0.5}},
	})
	WriteFile(t, dir, "seed.safetensors", st)
	arch, _ := json.Marshal(map[string]any{
		"name": "seed-file", "inputs": 10,
		"layers": []any{map[string]any{"type": "linear", "weight": "linear.weight", "bias": "linear.bias"}},
	})
	return WriteFile(t, dir, "seed.json", arch)
}

type Tensor struct {
	shape []int
	data  []float32
}

func Safetensors(t testing.TB, ts map[string]Tensor) []byte {
	t.Helper()
	header := map[string]any{}
	var body bytes.Buffer
	names := make([]string, 0, len(ts))
	for n := range ts {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		tt := ts[n]
		start := body.Len()
		for _, f := range tt.data {
			var b [4]byte
			u := math.Float32bits(f)
			b[0], b[1], b[2], b[3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
			body.Write(b[:])
		}
		header[n] = map[string]any{"dtype": "F32", "shape": tt.shape, "data_offsets": []int{start, body.Len()}}
	}
	h, _ := json.Marshal(header)
	var out bytes.Buffer
	n := uint64(len(h))
	for i := 0; i < 8; i++ {
		out.WriteByte(byte(n >> (8 * i)))
	}
	out.Write(h)
	out.Write(body.Bytes())
	return out.Bytes()
}
