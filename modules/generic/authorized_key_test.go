package generic_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/internal/ansibletest"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/moduletest"
)

const (
	keyA = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK0wmN/Cr3JXqmLW7u+g9pTh+y1WGlVD0D+dDVHGnc8A alice@laptop"
	keyB = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC7 bob"
	keyC = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTY="
)

// ansible.posix.authorized_key and gpuctl on copies of the same file: the
// same file and the same changed, for adds, replacements, options,
// comments, exclusive and removal.
func TestAuthorizedKeyLikeAnsible(t *testing.T) {
	existing := "# managed keys\n" + keyB + "\n\nfrom=\"10.0.0.1\",no-pty " + keyA + "\n" + keyB + " second copy\nnot a key line\n"
	for _, tc := range []struct {
		name, file string
		args       map[string]any
	}{
		{"new file", "", map[string]any{"key": keyA}},
		{"present already", "", map[string]any{"key": keyC}},
		{"append two", existing, map[string]any{"key": keyC + "\n# comment\n" + "ssh-ed25519 AAAAnew new\n"}},
		{"options replaced", existing, map[string]any{"key": keyA, "key_options": `no-agent-forwarding,from="10.0.0.0/8"`}},
		{"same options", existing, map[string]any{"key": "from=\"10.0.0.1\",no-pty " + keyA}},
		{"comment replaced", existing, map[string]any{"key": keyB, "comment": "bob@work"}},
		{"exclusive", existing, map[string]any{"key": keyC, "exclusive": true}},
		{"absent", existing, map[string]any{"key": keyB + "\n" + keyC, "state": "absent"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := tc.file
			if tc.name == "present already" {
				file = keyC + " \n"
			}
			var paths [2]string
			var changed [2]bool
			for i := range paths {
				paths[i] = filepath.Join(t.TempDir(), "keys")
				if file != "" {
					write(t, paths[i], file, 0o600)
				}
				args := map[string]any{"user": "root", "path": paths[i], "manage_dir": false}
				for k, v := range tc.args {
					args[k] = v
				}
				if i == 0 {
					changed[0] = ansibletest.Run(t, "ansible.posix.authorized_key", args, false)["changed"] == true
					continue
				}
				h := moduletest.Local()
				m := moduletest.New(t, "ansible.posix.authorized_key", args)
				d, err := m.Check(context.Background(), h)
				if err == nil && !d.Empty() {
					err = m.Apply(context.Background(), h, d)
				}
				if err != nil {
					t.Fatal(err)
				}
				changed[1] = !d.Empty()
				if d2, err := moduletest.New(t, "authorized_key", args).Check(context.Background(), h); err != nil || !d2.Empty() {
					t.Errorf("second run: %v %+v", err, d2.Changes)
				}
			}
			want, got := readKeys(t, paths[0]), readKeys(t, paths[1])
			if got != want || changed[0] != changed[1] {
				t.Errorf("gpuctl changed=%v:\n%s\nansible changed=%v:\n%s", changed[1], got, changed[0], want)
			}
		})
	}
}

func readKeys(t *testing.T, p string) string {
	b, err := os.ReadFile(p)
	if os.IsNotExist(err) {
		return "(missing)"
	}
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(p)
	return fmt.Sprintf("%v\n%s", fi.Mode().Perm(), b)
}

// On a real host: the default path under the user's home, the .ssh
// directory made 0700 and the file 0600, both owned by the user, and sshd
// then lets the key in.
func TestAuthorizedKeyHost(t *testing.T) {
	r := moduletest.Start(t, 1)[0]
	r.Run(t, "useradd -m -s /bin/bash carol")
	pub := strings.TrimSpace(string(must(os.ReadFile(r.TH.KeyFile + ".pub"))))
	r.Timeline(t, "ansible.posix.authorized_key", map[string]any{"user": "carol", "key": pub + "\n" + keyB}, "/home")
	if out := r.Run(t, "stat -c '%a %U %G' /home/carol/.ssh /home/carol/.ssh/authorized_keys; wc -l < /home/carol/.ssh/authorized_keys"); out !=
		"700 carol carol\n600 carol carol\n2" {
		t.Errorf("host:\n%s", out)
	}
	if out, err := r.TH.Output("carol", "id -un"); err != nil || strings.TrimSpace(out) != "carol" {
		t.Errorf("ssh as carol: %q %v", out, err)
	}
	res := r.NoChange(t, "authorized_key", map[string]any{"user": "carol", "key": keyB})
	if res["keyfile"] != "/home/carol/.ssh/authorized_keys" || res["user"] != "carol" || res["exclusive"] != false {
		t.Errorf("result %v", res)
	}
	r.Timeline(t, "authorized_key", map[string]any{"user": "carol", "key": keyB, "state": "absent"}, "/home")
	if out := r.Run(t, "cat /home/carol/.ssh/authorized_keys"); out != pub+" " && !strings.HasPrefix(out, pub) {
		t.Errorf("left %q", out)
	}
	t.Run("user not there yet", func(t *testing.T) {
		_, err := moduletest.New(t, "authorized_key", map[string]any{"user": "dave", "key": keyB}).Check(context.Background(), r.Host)
		if ny := (*modules.NotYetError)(nil); !errors.As(err, &ny) {
			t.Errorf("check: %v, want known after apply", err)
		}
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestAuthorizedKeyBadArgs(t *testing.T) {
	moduletest.BadArgs(t, "authorized_key", map[string]any{"key": keyA}, `missing required argument "user"`)
	moduletest.BadArgs(t, "authorized_key", map[string]any{"user": "root"}, `missing required argument "key"`)
	moduletest.BadArgs(t, "authorized_key", map[string]any{"user": "root", "key": "not a key"}, "invalid key specified: not a key")
	moduletest.BadArgs(t, "authorized_key", map[string]any{"user": "root", "key": keyA, "path": "keys"}, "must be an absolute path")
	moduletest.BadArgs(t, "authorized_key", map[string]any{"user": "root", "key": keyA, "state": "gone"}, "expected one of present, absent")
}
