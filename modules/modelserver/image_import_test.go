package modelserver

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/modules/modelserver/internal/imagetest"
	"github.com/gpuctl/gpuctl/modules/moduletest"
)

func TestLocalArchives(t *testing.T) {
	dir := t.TempDir()
	img := imagetest.TinyImage(t, "a")
	imagetest.DockerArchive(t, filepath.Join(dir, "imgs", "a.tar"), img, "a.io/a:1")
	imagetest.DockerArchive(t, filepath.Join(dir, "imgs", "b.tar"), img, "a.io/b:1")
	imagetest.WriteFile(t, filepath.Join(dir, "imgs"), "README", []byte("x"))
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
