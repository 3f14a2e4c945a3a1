package nvidia

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/moduletest"
)

// A containerd configured by gpuctl's containerd module with its own
// config_path and drop_in_dir (the config imports DIR/*.toml) gets the
// nvidia runtime as a drop-in in that directory, through node's helper,
// as with the default paths: the toolkit never edits the main config that
// the containerd module owns, or the two modules would undo each other.
func TestToolkitDropInFollowsContainerdPaths(t *testing.T) {
	bin := t.TempDir()
	// containerd 1.7: without the drop-in path the toolkit would write a
	// managed block into the main config.
	fake := "#!/bin/sh\necho 'containerd containerd.io 1.7.27 05044ec0a9a75232cad458027ca83437aae3f4da'\n"
	if err := os.WriteFile(filepath.Join(bin, "containerd"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))

	dir := t.TempDir()
	cfg, dropins := filepath.Join(dir, "config.toml"), filepath.Join(dir, "conf.d")
	main := "imports = [\"" + dropins + "/*.toml\"]\n" + kubeadmConfig
	if err := os.WriteFile(cfg, []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	args := map[string]any{
		"when_no_gpu": "install", "manage_repo": false, "install": false, "restart": false,
		"containerd_config": cfg, "dropin_dir": dropins,
	}
	d, err := modules.CheckOnly(context.Background(), moduletest.New(t, "nvidia_container_toolkit", args), moduletest.Local())
	if err != nil {
		t.Fatal(err)
	}
	want := "file:" + filepath.Join(dropins, "50-nvidia.toml")
	if got := strings.Join(d.Resources(), " "); got != want {
		t.Fatalf("planned %s, want only the drop-in %s", got, want)
	}
	drop := d.Changes[0].After
	if !strings.Contains(drop, `runtimes.nvidia`) || !strings.Contains(drop, "registry.k8s.io/pause:3.10") {
		t.Errorf("1.x drop-in must add nvidia and repeat the CRI table of %s:\n%s", cfg, drop)
	}
}
