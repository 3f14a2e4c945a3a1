package node

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestBuildContainerdConfig(t *testing.T) {
	nvidia := ContainerdRuntime{Name: "nvidia", BinaryName: "/usr/bin/nvidia-container-runtime"}
	for _, tc := range []struct {
		file    string
		version int
	}{
		{"containerd-1.6.20-default.toml", 2},
		{"containerd-2.x-default-excerpt.toml", 3},
	} {
		t.Run(tc.file, func(t *testing.T) {
			def, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			s := ctrdSettings{SandboxImage: DefaultSandboxImage, SystemdCgroup: true, DropInDir: "/etc/containerd/conf.d",
				Runtimes:  []ContainerdRuntime{nvidia},
				Overrides: map[string]any{"oom_score": 0, "plugins": map[string]any{"io.containerd.grpc.v1.cri": map[string]any{"restrict_oom_score_adj": true}}}}
			out, v, err := buildContainerdConfig(def, s, "# header\n")
			if err != nil {
				t.Fatal(err)
			}
			if v != tc.version {
				t.Fatalf("version %d, want %d", v, tc.version)
			}
			again, _, _ := buildContainerdConfig(def, s, "# header\n")
			if string(again) != string(out) {
				t.Fatal("rendering is not deterministic")
			}
			view, err := viewContainerdConfig(out)
			if err != nil {
				t.Fatal(err)
			}
			if !view.SystemdCgroup || view.CRIDisabled || view.SandboxImage != DefaultSandboxImage || view.Version != tc.version {
				t.Fatalf("view %+v\n%s", view, out)
			}
			if !strings.Contains(string(out), "/etc/containerd/conf.d/*.toml") || !strings.Contains(string(out), "nvidia-container-runtime") {
				t.Fatalf("imports or runtime missing:\n%s", out)
			}
			if strings.Contains(string(out), "oom_score = 0.0") {
				t.Fatal("YAML integer became a float")
			}
		})
	}
}

func TestCRIDisabledIsRemoved(t *testing.T) {
	// As Docker's containerd.io package ships it: no version key at all.
	if v, err := viewContainerdConfig([]byte("#   Copyright 2018-2022 Docker Inc.\ndisabled_plugins = [\"cri\"]\n")); err != nil || !v.CRIDisabled || v.Version != 1 {
		t.Fatalf("containerd.io's config: %+v %v", v, err)
	}
	def := []byte("version = 2\ndisabled_plugins = [\"cri\"]\n")
	out, _, err := buildContainerdConfig(def, ctrdSettings{SandboxImage: "x", SystemdCgroup: true}, "")
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := viewContainerdConfig(out); v.CRIDisabled || !v.SystemdCgroup {
		t.Fatalf("%s", out)
	}
}

func TestOverrideTypeClash(t *testing.T) {
	def := []byte("version = 2\nroot = '/var/lib/containerd'\n")
	_, _, err := buildContainerdConfig(def, ctrdSettings{Overrides: map[string]any{"root": map[string]any{"x": 1}}}, "")
	if err == nil {
		t.Fatal("table over a value accepted")
	}
}

// TestDropInWithRealContainerd loads the main file and a runtime drop-in
// with a real containerd binary (`containerd config dump` merges imports
// exactly as the daemon does) and checks that the runtime is added without
// losing SystemdCgroup or the sandbox image. Set GPUCTL_CONTAINERD to a
// containerd binary (from the Debian package) to run it.
func TestDropInWithRealContainerd(t *testing.T) {
	bin := os.Getenv("GPUCTL_CONTAINERD")
	if bin == "" {
		bin, _ = exec.LookPath("containerd")
	}
	if bin == "" {
		t.Skip("no containerd binary: set GPUCTL_CONTAINERD")
	}
	def, err := exec.Command(bin, "config", "default").Output()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	main, _, err := buildContainerdConfig(def, ctrdSettings{SandboxImage: DefaultSandboxImage, SystemdCgroup: true, DropInDir: filepath.Join(dir, "conf.d")}, "")
	if err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(dir, "conf.d"), 0o755)
	os.WriteFile(filepath.Join(dir, "config.toml"), main, 0o644)
	drop, err := runtimeDropIn(main, ContainerdRuntime{Name: "nvidia", BinaryName: "/usr/bin/nvidia-container-runtime", Default: true}, "")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "conf.d", "nvidia.toml"), drop, 0o644)
	out, err := exec.Command(bin, "--config", filepath.Join(dir, "config.toml"), "config", "dump").CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	v, err := viewContainerdConfig(out)
	if err != nil {
		t.Fatal(err)
	}
	if !v.SystemdCgroup || v.SandboxImage != DefaultSandboxImage {
		t.Fatalf("effective config lost settings: %+v", v)
	}
	for _, want := range []string{`default_runtime_name = "nvidia"`, `BinaryName = "/usr/bin/nvidia-container-runtime"`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("effective config lacks %s", want)
		}
	}
}
