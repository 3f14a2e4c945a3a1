package nvidia

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/modules/moduletest"
)

// kubeadmConfig is what the containerd module writes for kubeadm: runc
// with the systemd cgroup driver, which the nvidia runtime must not undo.
const kubeadmConfig = `version = 2

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.10"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = true
`

// nvidiaCtkConfig has the runtime as `nvidia-ctk runtime configure` writes it.
const nvidiaCtkConfig = kubeadmConfig + `
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.nvidia]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.nvidia.options]
        BinaryName = "/usr/bin/nvidia-container-runtime"
`

func TestEditMainConfigIdempotent(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		def      bool
	}{
		{"empty", "", false},
		{"kubeadm", kubeadmConfig, false},
		{"kubeadm default nvidia", kubeadmConfig, true},
		{"nvidia-ctk before", nvidiaCtkConfig, true},
		{"no containerd table", "version = 2\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			once := editMainConfig(tc.in, tc.def)
			if twice := editMainConfig(once, tc.def); twice != once {
				t.Fatalf("second edit changed the config:\n%s\n---\n%s", once, twice)
			}
			if n := strings.Count(once, `.containerd.runtimes.nvidia]`); n != 1 {
				t.Errorf("nvidia runtime defined %d times:\n%s", n, once)
			}
			if n := strings.Count(once, "default_runtime_name"); tc.def && n != 1 {
				t.Errorf("default_runtime_name %d times:\n%s", n, once)
			}
			if tc.def != strings.Contains(once, `default_runtime_name = "nvidia"`) {
				t.Errorf("default runtime: want nvidia=%v:\n%s", tc.def, once)
			}
			if err := verifyDump(once, 2, tc.def); err != nil {
				t.Error(err)
			}
			// Turning the default off again gives runc back.
			if tc.def {
				off := editMainConfig(once, false)
				if strings.Contains(off, `default_runtime_name = "nvidia"`) {
					t.Errorf("default still nvidia:\n%s", off)
				}
			}
		})
	}
}

func TestAddImport(t *testing.T) {
	glob := "/etc/containerd/conf.d/*.toml"
	for in, want := range map[string]string{
		"":                                       `imports = ["/etc/containerd/conf.d/*.toml"]` + "\n",
		"version = 3\n[plugins]\n":               "version = 3\n" + `imports = ["/etc/containerd/conf.d/*.toml"]` + "\n[plugins]\n",
		"version = 2\nimports = [\"/a.toml\"]\n": "version = 2\nimports = [\"/a.toml\", \"/etc/containerd/conf.d/*.toml\"]\n",
		"version = 3\nimports = ['/etc/containerd/conf.d/*.toml']\n": "version = 3\nimports = ['/etc/containerd/conf.d/*.toml']\n",
	} {
		got := addImport(in, glob)
		if got != want {
			t.Errorf("addImport(%q) = %q, want %q", in, got, want)
		}
		if !importsCover(got, "/etc/containerd/conf.d/99-nvidia.toml") {
			t.Errorf("%q does not import the drop-in", got)
		}
	}
}

func TestDropinConfig(t *testing.T) {
	for _, v := range []int{2, 3} {
		d := dropinConfig(v, true)
		if configVersion(d) != v || verifyDump(d, v, true) != nil {
			t.Errorf("version %d drop-in:\n%s", v, d)
		}
	}
	if !strings.Contains(dropinConfig(3, false), `"io.containerd.cri.v1.runtime"`) {
		t.Error("version 3 uses the cri runtime plugin")
	}
}

func TestParseContainerdVersion(t *testing.T) {
	for in, want := range map[string]int{
		"containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3":                    1,
		"containerd containerd.io 1.7.27 05044ec0a9a75232cad458027ca83437aae3f4da":                       1,
		"containerd github.com/containerd/containerd/v2 v2.1.4 75cb2b7193e4e490e9fbdc236c0e811ccaba3376": 2,
	} {
		if got, _, ok := parseContainerdVersion(in); !ok || got != want {
			t.Errorf("%q: got %d %v", in, got, ok)
		}
	}
}

// containerdDirs lists folders holding a real containerd binary: the one
// on PATH, and those in GPUCTL_TEST_CONTAINERD_DIRS (colon-separated), e.g.
// Debian's 1.6 unpacked with `apt-get download containerd && dpkg-deb -x
// containerd_*.deb root`, or a 2.x built from the Go module proxy.
func containerdDirs(t *testing.T) []string {
	t.Helper()
	var dirs []string
	if p, err := exec.LookPath("containerd"); err == nil {
		dirs = append(dirs, filepath.Dir(p))
	}
	for _, d := range filepath.SplitList(os.Getenv("GPUCTL_TEST_CONTAINERD_DIRS")) {
		if _, err := os.Stat(filepath.Join(d, "containerd")); err == nil {
			dirs = append(dirs, d)
		}
	}
	if len(dirs) == 0 {
		t.Skip("no containerd binary: install containerd or set GPUCTL_TEST_CONTAINERD_DIRS")
	}
	return dirs
}

// TestToolkitConfiguresRealContainerd applies the module's containerd part
// to a config that each real containerd reads, and reads it back with
// `containerd config dump`, which is what containerd will run with: 1.x
// through the managed block in the main config, 2.x through a drop-in, for
// main configs of version 2 and 3.
func TestToolkitConfiguresRealContainerd(t *testing.T) {
	for _, dir := range containerdDirs(t) {
		bin := filepath.Join(dir, "containerd")
		out, _ := exec.Command(bin, "--version").Output()
		major, minor, ok := parseContainerdVersion(string(out))
		if !ok {
			t.Fatalf("%s --version: %q", bin, out)
		}
		mains := map[string]string{"v2 config": kubeadmConfig}
		if major >= 2 {
			mains["v3 config"] = kubeadmConfigV3
		}
		for cname, main := range mains {
			t.Run(fmt.Sprintf("containerd %d.%d %s", major, minor, cname), func(t *testing.T) {
				t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
				configureRealContainerd(t, bin, major, main)
			})
		}
	}
}

func configureRealContainerd(t *testing.T, bin string, major int, main string) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfg, []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	dropins := filepath.Join(dir, "conf.d")
	args := map[string]any{
		"when_no_gpu": "install", "manage_repo": false, "install": false, "restart": false,
		"containerd_config": cfg, "dropin_dir": dropins, "default_runtime": true,
	}
	h := moduletest.Local()

	// Check mode changes nothing (the config, the drop-in folder).
	snap := func() string {
		b, _ := os.ReadFile(cfg)
		ds, _ := os.ReadDir(dropins)
		return fmt.Sprint(string(b), len(ds))
	}
	moduletest.TimelineSnap(t, h, snap, "nvidia_container_toolkit", args)

	if b, _ := os.ReadFile(cfg); major >= 2 {
		if !strings.Contains(string(b), dropins+"/*.toml") || strings.Contains(string(b), "nvidia") {
			t.Errorf("2.x: the main config should only gain the import:\n%s", b)
		}
	} else if !strings.Contains(string(b), blockBegin) {
		t.Errorf("1.x: no managed block in the main config:\n%s", b)
	}
	dump, err := exec.Command(bin, "--config", cfg, "config", "dump").CombinedOutput()
	if err != nil {
		t.Fatalf("containerd config dump: %v\n%s", err, dump)
	}
	v := dumpVersionOf(major)
	if err := verifyDump(string(dump), v, true); err != nil {
		t.Errorf("%v\n%s", err, dump)
	}
	runc, ok := tableBody(string(dump), `[plugins."`+criPlugin(v)+`".containerd.runtimes.runc.options]`)
	if !ok || !strings.Contains(runc, "SystemdCgroup = true") {
		t.Errorf("the runc runtime lost SystemdCgroup:\n%s", runc)
	}
	nv, _ := tableBody(string(dump), `[plugins."`+criPlugin(v)+`".containerd.runtimes.nvidia.options]`)
	t.Logf("containerd config dump, nvidia runtime options:\n%s", nv)
}

// kubeadmConfigV3 is kubeadmConfig in containerd 2.x's format.
const kubeadmConfigV3 = `version = 3

[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"

[plugins."io.containerd.cri.v1.runtime".containerd]
  default_runtime_name = "runc"
  [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
      SystemdCgroup = true
`

// TestToolkitRejectsBadConfig proves a config containerd cannot read is
// restored instead of being left for the next restart.
func TestToolkitRestoresOnRejectedConfig(t *testing.T) {
	dirs := containerdDirs(t)
	t.Setenv("PATH", dirs[0]+string(os.PathListSeparator)+os.Getenv("PATH"))
	ctx := context.Background()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.toml")
	bad := kubeadmConfig + "\n[plugins.\"io.containerd.grpc.v1.cri\".containerd]\n" // defined twice: invalid TOML
	if err := os.WriteFile(cfg, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	args := map[string]any{"when_no_gpu": "install", "manage_repo": false, "install": false, "restart": false, "containerd_config": cfg}
	m := moduletest.New(t, "nvidia_container_toolkit", args)
	h := moduletest.Local()
	d, err := m.Check(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Apply(ctx, h, d); err == nil || !strings.Contains(err.Error(), "old config restored") {
		t.Fatalf("want a rejected config, got %v", err)
	}
	if b, _ := os.ReadFile(cfg); string(b) != bad {
		t.Error("config not restored")
	}
}

// FuzzEditMainConfig: whatever the config, a second edit changes nothing
// and the nvidia runtime is defined exactly once.
func FuzzEditMainConfig(f *testing.F) {
	f.Add(kubeadmConfig, true)
	f.Add(nvidiaCtkConfig, false)
	f.Add("", true)
	f.Fuzz(func(t *testing.T, in string, def bool) {
		once := editMainConfig(in, def)
		if twice := editMainConfig(once, def); twice != once {
			t.Fatalf("not idempotent:\n%q\n%q", once, twice)
		}
	})
}

func FuzzAddImport(f *testing.F) {
	f.Add("version = 2\nimports = [\"/a.toml\"]\n")
	f.Add("version = 3\n[plugins]\n")
	f.Fuzz(func(t *testing.T, in string) {
		once := addImport(in, "/etc/containerd/conf.d/*.toml")
		if twice := addImport(once, "/etc/containerd/conf.d/*.toml"); twice != once {
			t.Fatalf("not idempotent:\n%q\n%q", once, twice)
		}
	})
}
