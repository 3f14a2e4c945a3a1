package integration

import (
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/internal/testhosts"
)

// Filesystem faults: a full disk during an upload and during apt, and a
// read-only filesystem. Each case checks the error names host, task and
// path and says what is wrong, the target is left as it was, nothing of
// gpuctl's is left behind, and once the fault is gone a re-run converges.
func TestFaultsFilesystem(t *testing.T) {
	h := testhosts.Start(t, 1)[0]
	dir := t.TempDir()
	inv := inventory(t, dir, []testhosts.Host{h}, nil)
	mustFail := func(t *testing.T, pb string, wants ...string) {
		t.Helper()
		res := gpuctl(t, nil, dir, "run", pb, "-i", inv)
		t.Logf("run: %s", res)
		if res.code == 0 {
			t.Fatal("run exited 0")
		}
		for _, w := range append([]string{h.Name}, wants...) {
			if !strings.Contains(res.stdout+res.stderr, w) {
				t.Errorf("output lacks %q", w)
			}
		}
	}
	converges := func(t *testing.T, pb string) {
		t.Helper()
		if res := gpuctl(t, nil, dir, "run", pb, "-i", inv); res.code != 0 {
			t.Fatalf("re-run: %s", res)
		}
		if res := gpuctl(t, nil, dir, "run", pb, "-i", inv, "--detailed-exitcode"); res.code != 0 {
			t.Errorf("second re-run is not a no-op: %s", res)
		}
	}

	t.Run("disk full during upload", func(t *testing.T) {
		big := writeFile(t, dir, "four-mib.bin", strings.Repeat("0123456789abcdef", 4<<16))
		pb := writeFile(t, dir, "full.yaml", "- hosts: all\n  tasks:\n    - name: fill it\n      copy: {src: "+big+", dest: /srv/small/f}\n")
		h.Run(t, "mkdir -p /srv/small && mount -t tmpfs -o size=1m tmpfs /srv/small && printf old > /srv/small/f")
		defer h.Output(testhosts.UserRoot, "umount /srv/small")
		mustFail(t, pb, "fill it", "/srv/small/f", "no space left on device")
		if got := h.Run(t, "cat /srv/small/f"); got != "old" {
			t.Errorf("target after ENOSPC holds %q", got)
		}
		if left := temps(t, h, "/srv/small"); left != "" {
			t.Errorf("left %s", left)
		}
		h.Run(t, "mount -o remount,size=16m /srv/small")
		converges(t, pb)
	})

	t.Run("read-only filesystem", func(t *testing.T) {
		pb := writeFile(t, dir, "ro.yaml", "- hosts: all\n  tasks:\n    - name: write ro\n      copy: {dest: /srv/ro/f, content: \"new\\n\"}\n")
		h.Run(t, "mkdir -p /srv/ro && printf old > /srv/ro/f && mount --bind /srv/ro /srv/ro && mount -o remount,ro,bind /srv/ro")
		defer h.Output(testhosts.UserRoot, "umount /srv/ro")
		mustFail(t, pb, "write ro", "/srv/ro/f", "read-only file system")
		if got := h.Run(t, "cat /srv/ro/f"); got != "old" {
			t.Errorf("target on a read-only filesystem holds %q", got)
		}
		h.Run(t, "umount /srv/ro")
		if left := temps(t, h, "/srv/ro"); left != "" {
			t.Errorf("left %s", left)
		}
		converges(t, pb)
	})

	t.Run("disk full during apt", func(t *testing.T) {
		// A local package whose 2 MiB file goes where only 1 MiB is free.
		h.Run(t, `set -e; d=$(mktemp -d); mkdir -p $d/DEBIAN $d/srv/aptfull
printf 'Package: gpuctl-full\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@example.com>\nDescription: test\n' > $d/DEBIAN/control
head -c 2M /dev/urandom > $d/srv/aptfull/blob; dpkg-deb -Znone -b $d /root/gpuctl-full.deb >/dev/null; rm -rf $d
mkdir -p /srv/aptfull && mount -t tmpfs -o size=1m tmpfs /srv/aptfull`)
		defer h.Output(testhosts.UserRoot, "umount /srv/aptfull")
		pb := writeFile(t, dir, "apt.yaml", "- hosts: all\n  tasks:\n    - name: full package\n      apt: {deb: /root/gpuctl-full.deb}\n")
		mustFail(t, pb, "full package", "/srv/aptfull/blob", "No space left on device")
		t.Logf("left: dpkg status %q, /srv/aptfull %q", h.Run(t, "dpkg-query -W -f '${Status}' gpuctl-full 2>&1 || true"),
			h.Run(t, "ls -a /srv/aptfull | tr '\\n' ' '"))
		if got := h.Run(t, "ls -a /srv/aptfull | tr '\\n' ' '"); strings.TrimSpace(got) != ". .." {
			t.Errorf("dpkg left %q", got)
		}
		if got := h.Run(t, "dpkg --audit gpuctl-full; dpkg-query -W -f '${Status}' gpuctl-full 2>/dev/null || true"); strings.Contains(got, "half") || strings.Contains(got, "install ok installed") {
			t.Errorf("package state after ENOSPC: %q", got)
		}
		h.Run(t, "mount -o remount,size=16m /srv/aptfull")
		converges(t, pb)
		if got := h.Run(t, "dpkg-query -W -f '${Status}' gpuctl-full"); got != "install ok installed" {
			t.Errorf("after re-run: %q", got)
		}
	})
}
