package node

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/internal/ansibletest"
	"github.com/gpuctl/gpuctl/modules/moduletest"
)

// fstab edits (states present and absent_from_fstab touch nothing else) give
// the same file and the same changed as ansible.posix.mount.
func TestMountFstabLikeAnsible(t *testing.T) {
	const tab = "# /etc/fstab\nUUID=1 / ext4 errors=remount-ro 0 1\n" +
		"/dev/sdb1   /data   xfs   defaults\n" + // four fields: Ansible rewrites it once
		"/swapfile none swap sw 0 0\n" +
		"tmpfs /my\\040dir tmpfs size=1m 0 0\n" +
		"/dev/sdc1 /dup ext4 defaults 0 0\n/dev/sdc1 /dup ext4 noatime 0 0\n" +
		"last /line ext4 defaults 0 0" // no newline at the end
	for _, tc := range []struct {
		name string
		args map[string]any
	}{
		{"new entry", map[string]any{"path": "/srv/images", "src": "LABEL=images", "fstype": "ext4", "opts": "noatime,nofail", "state": "present"}},
		{"same entry", map[string]any{"path": "/", "src": "UUID=1", "fstype": "ext4", "opts": "errors=remount-ro", "passno": "1", "state": "present"}},
		{"four-field line", map[string]any{"path": "/data", "src": "/dev/sdb1", "fstype": "xfs", "state": "present"}},
		{"changed options", map[string]any{"path": "/", "src": "UUID=1", "fstype": "ext4", "opts": "noatime", "passno": "1", "state": "present"}},
		{"space in path", map[string]any{"path": "/my dir", "src": "tmpfs", "fstype": "tmpfs", "opts": "size=2m", "state": "present"}},
		{"duplicates", map[string]any{"path": "/dup", "src": "/dev/sdc1", "fstype": "ext4", "state": "present"}},
		{"boot false", map[string]any{"path": "/srv/x", "src": "/dev/sdd1", "fstype": "ext4", "opts": "noatime", "boot": false, "state": "present"}},
		{"no newline at the end", map[string]any{"path": "/line", "src": "last", "fstype": "ext4", "opts": "ro", "state": "present"}},
		{"remove", map[string]any{"path": "/dup", "state": "absent_from_fstab"}},
		{"remove, none there", map[string]any{"path": "/nowhere", "state": "absent_from_fstab"}},
		{"swap by src", map[string]any{"path": "none", "src": "/other", "fstype": "swap", "opts": "sw", "state": "present"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var files [2]string
			var changed [2]bool
			var results [2]map[string]any
			for i := range files {
				files[i] = filepath.Join(t.TempDir(), "fstab")
				if err := os.WriteFile(files[i], []byte(tab), 0o644); err != nil {
					t.Fatal(err)
				}
				args := map[string]any{"fstab": files[i]}
				for k, v := range tc.args {
					args[k] = v
				}
				if i == 0 {
					results[i] = ansibletest.Run(t, "ansible.posix.mount", args, false)
					changed[i] = results[i]["changed"] == true
					continue
				}
				h := moduletest.Local()
				d, res, err := moduletest.Apply(t, h, "mount", args)
				if err != nil {
					t.Fatal(err)
				}
				changed[i], results[i] = !d.Empty(), res
				moduletest.NoChange(t, h, "mount", args)
			}
			if got, want := readOr(t, files[1]), readOr(t, files[0]); got != want || changed[0] != changed[1] {
				t.Errorf("gpuctl %v:\n%s\nansible %v:\n%s", changed[1], got, changed[0], want)
			}
			for _, k := range []string{"name", "opts", "dump", "passno", "boot", "src", "fstype"} {
				if !ansibletest.Same(results[1][k], results[0][k]) {
					t.Errorf("%s: gpuctl %v, ansible %v", k, results[1][k], results[0][k])
				}
			}
		})
	}
}

func TestMountFstabEdits(t *testing.T) {
	m := &Mount{Path: "none", Src: "/swap2", Fstype: "swap", Opts: "sw", Dump: "0", Passno: "0", State: "present", Boot: true}
	m.Provision()
	out, changed := m.setFstab("/swap1 none swap sw 0 0\n")
	if want := "/swap1 none swap sw 0 0\n/swap2 none swap sw 0 0\n"; out != want || !changed {
		t.Errorf("a second swap file is another entry: %v %q", changed, out)
	}
	out, changed = unsetFstab("/swap1 none swap sw 0 0\n/swap2 none swap sw 0 0\n", "none", "/swap2")
	if want := "/swap1 none swap sw 0 0\n"; out != want || !changed {
		t.Errorf("removing a swap file by src: %v %q", changed, out)
	}
	if out, changed := unsetFstab("a /b ext4 defaults\n", "/b", ""); changed || out != "a /b ext4 defaults\n" {
		t.Errorf("Ansible removes only six-field lines: %v %q", changed, out)
	}
}

func TestParseMountinfo(t *testing.T) {
	const info = `22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
30 22 0:40 / /mnt/with\040space rw,nosuid - tmpfs tmpfs rw,size=1024k
31 22 8:1 /srv/data /var/lib/data rw,relatime shared:1 - ext4 /dev/sda1 rw
32 30 0:40 /sub /mnt/bound rw - tmpfs tmpfs rw
`
	got := parseMountinfo(info)
	want := map[string]mountPoint{
		"/":               {source: "/dev/sda1", fstype: "ext4", opts: "rw,relatime", bindSrc: "/dev/sda1"},
		"/mnt/with space": {source: "tmpfs", fstype: "tmpfs", opts: "rw,nosuid", bindSrc: "/"},
		"/var/lib/data":   {source: "/dev/sda1", fstype: "ext4", opts: "rw,relatime", bindSrc: "/srv/data"},
		"/mnt/bound":      {source: "tmpfs", fstype: "tmpfs", opts: "rw", bindSrc: "/mnt/with space/sub"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestMountBadArgs(t *testing.T) {
	for _, tc := range []struct {
		args map[string]any
		want string
	}{
		{map[string]any{"path": "/mnt/x", "state": "mounted"}, "all of the following are missing: src, fstype"},
		{map[string]any{"path": "/mnt/x", "src": "tmpfs", "state": "present"}, "missing: fstype"},
		{map[string]any{"path": "mnt/x", "state": "unmounted"}, "must be absolute"},
		{map[string]any{"path": "/mnt/x", "src": "a", "fstype": "tmpfs", "opts": "a b", "state": "present"}, "no spaces"},
		{map[string]any{"path": "/mnt/x", "state": "gone"}, "state"},
		{map[string]any{"path": "/mnt/x", "src": "a", "fstype": "b", "fstab": "fstab", "state": "present"}, "must be an absolute path"},
	} {
		moduletest.BadArgs(t, "mount", tc.args, tc.want)
	}
}

// On a real host: a tmpfs mounted and kept in fstab, then taken out, each
// under the module contract, and the same fstab and mount as
// ansible.posix.mount leaves on a second host.
func TestMountHost(t *testing.T) {
	hs := moduletest.Start(t, 2)
	r, theirs := hs[0], hs[1]
	args := map[string]any{"path": "/mnt/gpuctl/cache", "src": "tmpfs", "fstype": "tmpfs", "opts": "size=8m,mode=0755", "state": "mounted"}
	probe := "grep ' /mnt/gpuctl/cache ' /etc/fstab; findmnt -rn -o SOURCE,FSTYPE,OPTIONS /mnt/gpuctl/cache | sed 's/,inode64//'"

	d := r.Timeline(t, "mount", args)
	if !moduletest.HasChange(d, "mount:/mnt/gpuctl/cache", "mounted") || !moduletest.HasChange(d, "file:/etc/fstab", "content") {
		t.Errorf("check mode: want the fstab line and the mount:\n%s", moduletest.Describe(d))
	}
	ours := r.Run(t, probe)
	if !strings.Contains(ours, "tmpfs /mnt/gpuctl/cache tmpfs size=8m,mode=0755 0 0") || !strings.Contains(ours, "tmpfs tmpfs") {
		t.Fatalf("after apply: %q", ours)
	}

	t.Run("new options remount", func(t *testing.T) {
		a := map[string]any{"path": "/mnt/gpuctl/cache", "src": "tmpfs", "fstype": "tmpfs", "opts": "size=16m,mode=0755", "state": "mounted"}
		d := r.Timeline(t, "mount", a)
		if !moduletest.HasChange(d, "mount:/mnt/gpuctl/cache", "mounted") {
			t.Errorf("want a remount:\n%s", moduletest.Describe(d))
		}
		if out := r.Run(t, "findmnt -n -o OPTIONS /mnt/gpuctl/cache"); !strings.Contains(out, "size=16384k") {
			t.Errorf("remount did not apply the new size: %q", out)
		}
	})

	t.Run("a failed mount leaves fstab and the directories as they were", func(t *testing.T) {
		before := r.Run(t, "cat /etc/fstab")
		a := map[string]any{"path": "/mnt/none/here", "src": "/dev/gpuctl-missing", "fstype": "ext4", "state": "mounted"}
		if _, _, err := r.Apply(t, "mount", a); err == nil || !strings.Contains(err.Error(), "Error mounting /mnt/none/here") {
			t.Fatalf("want Error mounting, got %v", err)
		}
		if after := r.Run(t, "cat /etc/fstab"); after != before {
			t.Errorf("fstab not restored:\n%s", after)
		}
		if out := r.Run(t, "test -e /mnt/none && echo left || echo gone"); out != "gone" {
			t.Errorf("the directories it made are %s", out)
		}
	})

	t.Run("like ansible-core", func(t *testing.T) {
		theirs.Run(t, "command -v python3 >/dev/null || apt-get install -y -q python3 >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get install -y -q python3 >/dev/null)")
		tgt := ansibletest.Target{Addr: theirs.TH.Addr, Port: theirs.TH.Port, KeyFile: theirs.TH.KeyFile, KnownHostsFile: theirs.TH.KnownHostsFile}
		if res := ansibletest.RunOn(t, tgt, "ansible.posix.mount", args, false); res["changed"] != true {
			t.Fatalf("ansible: %v", res)
		}
		if _, _, err := r.Apply(t, "mount", args); err != nil { // back to the first options, as ansible's host has them
			t.Fatal(err)
		}
		if got, want := r.Run(t, probe), theirs.Run(t, probe); got != want {
			t.Errorf("gpuctl's host:\n%s\nansible's:\n%s", got, want)
		}
		theirs.NoChange(t, "mount", args)
	})

	t.Run("unmounted, then absent", func(t *testing.T) {
		r.Timeline(t, "mount", map[string]any{"path": "/mnt/gpuctl/cache", "state": "unmounted"})
		if out := r.Run(t, "findmnt -n /mnt/gpuctl/cache || echo none"); out != "none" {
			t.Errorf("still mounted: %q", out)
		}
		r.Run(t, "mount /mnt/gpuctl/cache") // from fstab: absent must unmount it too
		r.Timeline(t, "mount", map[string]any{"path": "/mnt/gpuctl/cache", "state": "absent"})
		if out := r.Run(t, "grep -c /mnt/gpuctl/cache /etc/fstab; findmnt -n /mnt/gpuctl/cache; test -e /mnt/gpuctl/cache || echo removed"); out != "0\nremoved" {
			t.Errorf("after absent: %q", out)
		}
	})

	t.Run("remounted", func(t *testing.T) {
		a := map[string]any{"path": "/mnt/gpuctl/r", "src": "tmpfs", "fstype": "tmpfs", "state": "mounted"}
		if _, _, err := r.Apply(t, "mount", a); err != nil {
			t.Fatal(err)
		}
		d, _, err := r.Apply(t, "mount", map[string]any{"path": "/mnt/gpuctl/r", "state": "remounted"})
		if err != nil || d.Empty() {
			t.Errorf("remounted is a change on every run, as in Ansible: %v\n%s", err, moduletest.Describe(d))
		}
		if d, err := r.CheckOnly(t, "mount", map[string]any{"path": "/mnt/gpuctl/r", "state": "remounted"}); err != nil || d.Empty() {
			t.Errorf("check mode: %v %s", err, moduletest.Describe(d))
		}
	})
}
