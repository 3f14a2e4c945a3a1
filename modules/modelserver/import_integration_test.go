package modelserver

import (
	"context"
	"fmt"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/modelserver/internal/imagetest"
	"github.com/gpuctl/gpuctl/modules/moduletest"
)

// containerdHost is a test host with Debian's containerd running, as the
// node modules leave it.
func containerdHost(t *testing.T) *moduletest.Remote {
	t.Helper()
	h := moduletest.Start(t, 1)[0]
	start := time.Now()
	h.TH.Run(t, "DEBIAN_FRONTEND=noninteractive apt-get -qq update && DEBIAN_FRONTEND=noninteractive apt-get -qq install -y --no-install-recommends containerd >/dev/null")
	h.TH.Run(t, "systemctl start containerd && for i in $(seq 50); do ctr version >/dev/null 2>&1 && break; sleep 0.2; done; ctr version >/dev/null")
	t.Logf("containerd %s installed in %s", h.TH.Run(t, "containerd --version | cut -d' ' -f3"), time.Since(start).Round(time.Second))
	return h
}

func ctrRefs(t *testing.T, h *moduletest.Remote) string {
	return h.TH.Run(t, "ctr -n k8s.io images ls -q")
}

// TestImageImport imports docker, OCI and gzip archives built here into a
// real containerd over SSH: check mode lists them and changes nothing,
// apply imports, a re-run has nothing to do (no upload), a changed image
// re-imports only its archive, and archives already on the host are
// imported in place. Then model_server imports the image it builds, and
// the image runs and answers a prediction when the host can run containers.
func TestImageImport(t *testing.T) {
	h := containerdHost(t)
	ctx := context.Background()
	dir := t.TempDir()
	imgs := filepath.Join(dir, "images")
	imagetest.DockerArchive(t, filepath.Join(imgs, "pause.tar"), imagetest.TinyImage(t, "pause"), "registry.k8s.io/pause:3.10.1")
	imagetest.OCIArchive(t, filepath.Join(imgs, "etcd.tar"), imagetest.TinyImage(t, "etcd"), "registry.k8s.io/etcd:3.6.5-0")
	imagetest.DockerArchive(t, filepath.Join(dir, "busybox.tar"), imagetest.TinyImage(t, "busybox"), "busybox:local")
	args := map[string]any{"archives": []any{"images", "busybox.tar"}, "snapshotter": "native"}
	h.V = map[string]any{"playbook_dir": dir}

	t.Run("import", func(t *testing.T) {
		d, _ := h.TimelineModule(t, "image_import", args, "/var/lib/gpuctl")
		for _, r := range []string{"image:registry.k8s.io/pause:3.10.1", "image:registry.k8s.io/etcd:3.6.5-0", "image:docker.io/library/busybox:local", "upload:/var/lib/gpuctl/images/pause.tar"} {
			if !moduletest.HasChange(d, r, "") {
				t.Errorf("check-mode diff lacks %s", r)
			}
		}
		refs := ctrRefs(t, h)
		for _, r := range []string{"registry.k8s.io/pause:3.10.1", "registry.k8s.io/etcd:3.6.5-0", "docker.io/library/busybox:local"} {
			if !strings.Contains(refs, r) {
				t.Errorf("containerd lacks %s:\n%s", r, refs)
			}
		}
		if left := h.TH.Run(t, "ls -A /var/lib/gpuctl/images"); left != "" {
			t.Errorf("uploaded archives left behind: %s", left)
		}
	})

	t.Run("changed image re-imports only its archive", func(t *testing.T) {
		imagetest.DockerArchive(t, filepath.Join(imgs, "pause.tar"), imagetest.TinyImage(t, "pause v2"), "registry.k8s.io/pause:3.10.1")
		d, _ := h.TimelineModule(t, "image_import", args)
		if len(d.Changes) != 2 || !moduletest.HasChange(d, "image:registry.k8s.io/pause:3.10.1", "id") || !moduletest.HasChange(d, "upload:/var/lib/gpuctl/images/pause.tar", "") {
			t.Fatalf("diff:\n%s", moduletest.Describe(d))
		}
	})

	t.Run("gzip and remote_src", func(t *testing.T) {
		gz := filepath.Join(dir, "app.tar.gz")
		imagetest.DockerArchive(t, filepath.Join(dir, "app.tar"), imagetest.TinyImage(t, "app"), "example.com/app:v1")
		if out, err := osexec.Command("gzip", "-k", "-f", filepath.Join(dir, "app.tar")).CombinedOutput(); err != nil {
			t.Fatalf("gzip: %v %s", err, out)
		}
		data, err := os.ReadFile(gz)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.C.WriteFile(ctx, "/srv/app.tar.gz", data, conn.FileAttrs{}); err != nil {
			t.Fatal(err)
		}
		rargs := map[string]any{"archives": []any{"/srv/*.tar.gz"}, "remote_src": true, "snapshotter": "native"}
		d, _ := h.TimelineModule(t, "image_import", rargs)
		if len(d.Changes) != 1 || !moduletest.HasChange(d, "image:example.com/app:v1", "imported") {
			t.Fatalf("diff:\n%s", moduletest.Describe(d))
		}
		if h.TH.Run(t, "ls /srv") != "app.tar.gz" {
			t.Fatal("remote archive moved")
		}
	})

	t.Run("check mode without containerd is known after apply", func(t *testing.T) {
		hh := moduletest.On(noCtr{h.C})
		hh.HostName, hh.V = h.HostName, h.V
		d, err := modules.CheckOnly(ctx, moduletest.New(t, "image_import", args), hh)
		if err != nil || !strings.Contains(d.Unknown, "not installed") {
			t.Fatalf("%+v %v", d, err)
		}
	})

	t.Run("model_server imports its built image", func(t *testing.T) {
		bin := serveBinary(t)
		port := freePort(t, h.TH.Addr)
		margs := map[string]any{"deploy": false, "binary": bin, "snapshotter": "native", "cache_dir": filepath.Join(dir, "cache"), "port": port, "model": imagetest.SeedModel(t, t.TempDir())}
		_, m := h.TimelineModule(t, "model_server", margs)
		msg := m.(modules.Messager).Message()
		ref := strings.TrimSuffix(strings.TrimPrefix(msg, "image "), " imported")
		if !strings.HasPrefix(ref, "gpuctl.local/model-server:") || !strings.Contains(ctrRefs(t, h), ref) {
			t.Fatalf("message %q, containerd:\n%s", msg, ctrRefs(t, h))
		}
		runBuiltImage(t, h, ref, port, "")
	})

	t.Run("dynamically linked gpuctl on an empty base", func(t *testing.T) {
		bin := fullBinary(t)
		port := freePort(t, h.TH.Addr)
		margs := map[string]any{"deploy": false, "binary": bin, "snapshotter": "native", "cache_dir": filepath.Join(dir, "cache"), "model": imagetest.SeedModel(t, t.TempDir())}
		_, m := h.TimelineModule(t, "model_server", margs)
		ref := strings.TrimSuffix(strings.TrimPrefix(m.(modules.Messager).Message(), "image "), " imported")
		runBuiltImage(t, h, ref, port, "serve")
	})
}

// fullBinary builds gpuctl itself the default way (cgo on: dynamically
// linked against glibc), as users run it.
func fullBinary(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "gpuctl")
	out, err := osexec.Command("go", "build", "-o", p, "github.com/gpuctl/gpuctl").CombinedOutput()
	if err != nil {
		t.Skipf("gpuctl does not build in this tree right now: %v\n%s", err, out)
	}
	return p
}

// runBuiltImage starts the built image with ctr on the host network and
// sends the seed's prediction through SSH: the image is complete. nspawn
// hosts may refuse to run containers; that skips with ctr's message.
func runBuiltImage(t *testing.T, h *moduletest.Remote, ref string, port int, sub string) {
	ctx := context.Background()
	name := "ms-" + strings.TrimPrefix(ref, "gpuctl.local/model-server:")
	cmd := fmt.Sprintf("ctr -n k8s.io run -d --snapshotter native --net-host %s %s /usr/local/bin/gpuctl %s --addr=%s:%d --device=cpu --model=/models/seed.json", ref, name, sub, h.TH.Addr, port)
	res, err := h.C.Run(ctx, cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h.C.Run(ctx, fmt.Sprintf("ctr -n k8s.io task kill -s KILL %[1]s; sleep 0.5; ctr -n k8s.io task rm -f %[1]s; ctr -n k8s.io containers rm %[1]s", name))
	})
	if res.ExitCode != 0 {
		// runc needs writable cgroups, which nspawn test hosts do not give.
		// The image's root filesystem, as containerd unpacked it, still runs
		// the server chrooted into it.
		t.Logf("ctr run failed (%s); running the unpacked image chrooted instead", strings.TrimSpace(res.Stderr))
		mnt := "/mnt/" + name
		h.TH.Run(t, fmt.Sprintf("mkdir -p %[2]s && ctr -n k8s.io images mount --snapshotter native %[1]s %[2]s >/dev/null", ref, mnt))
		t.Cleanup(func() {
			h.C.Run(ctx, fmt.Sprintf("kill $(cat /run/%s.pid); sleep 0.3; ctr -n k8s.io images unmount %s", name, mnt))
		})
		// The image's environment, as a container would get it.
		h.TH.Run(t, fmt.Sprintf("env -i PATH=/usr/local/bin:/usr/bin:/bin LD_LIBRARY_PATH=/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu /usr/bin/setsid /usr/sbin/chroot --userspec=65532:65532 %[1]s /usr/local/bin/gpuctl %[2]s --addr=%[3]s:%[4]d --device=cpu --model=/models/seed.json </dev/null >/run/%[5]s.log 2>&1 & echo $! >/run/%[5]s.pid", mnt, sub, h.TH.Addr, port, name))
	}
	addr := fmt.Sprintf("%s:%d", h.TH.Addr, port)
	if err := waitReady(ctx, h.C, addr, 30*time.Second); err != nil {
		out, _ := h.C.Run(ctx, "ctr -n k8s.io task ls; cat /run/"+name+".log")
		t.Fatalf("container not ready: %v\n%s", err, out.Stdout)
	}
	ans, err := predict(ctx, h.C, addr, 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("image %s answered: %s", ref, ans)
	if !strings.Contains(ans, `{"prediction":[3.8`) {
		t.Fatalf("answer %s", ans)
	}
}

// noCtr is a host whose ctr is missing.
type noCtr struct{ conn.Conn }

func (n noCtr) Run(ctx context.Context, cmd string, opts ...conn.ExecOption) (conn.Result, error) {
	return n.Conn.Run(ctx, "PATH=/nonexistent; "+cmd, opts...)
}
