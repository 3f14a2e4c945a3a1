package generic_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/internal/ansibletest"
	"github.com/gpuctl/gpuctl/modules/moduletest"
)

// Hashes of "secret" written by passlib 1.7.4.
const (
	aprSecret    = "$apr1$K9iXsGrP$sAsfag9uZK34EbrF5skKd1"
	md5Secret    = "$1$HqjFFiIc$hysJLF9I0ZwHY97Y/20uB1"
	sha512Secret = "$6$RcBa.bijx25NkQrr$kCcePCkPalEUj8vf69CTHoRYgqn/NjkVrEc2W.52b8lnE6t0C4vUtNueBo/b/VPDXdkS8YpFIOghXm52fA1lI0"
	bcryptSecret = "$2y$05$mT0WedaGM7W/U9rRn9LU5.XsLV1oRAkBBXGaJ.2pCM2euFhK8sxx6"
	sha1Secret   = "{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ="
)

// community.general.htpasswd and gpuctl on copies of the same file: the
// same changed, the same users in the same order with hashes of the same
// scheme, and the same mode; and each tool's file verifies under the other
// (passlib's hashes with gpuctl, gpuctl's with a second Ansible run).
func TestHtpasswdLikeAnsible(t *testing.T) {
	existing := "# web users\nalice:" + aprSecret + "\nbob:" + bcryptSecret + "\ncarol:" + sha1Secret + "\n"
	for _, tc := range []struct {
		name, file string
		args       map[string]any
	}{
		{"new file", "", map[string]any{"name": "alice", "password": "secret"}},
		{"new file bcrypt 0640", "", map[string]any{"name": "alice", "password": "secret", "crypt_scheme": "bcrypt", "mode": "0640"}},
		{"same password", existing, map[string]any{"name": "alice", "password": "secret"}},
		{"same password bcrypt", existing, map[string]any{"name": "bob", "password": "secret"}},
		{"same password sha1", existing, map[string]any{"name": "carol", "password": "secret"}},
		{"new password", existing, map[string]any{"name": "bob", "password": "other"}},
		{"added", existing, map[string]any{"name": "dave", "password": "secret", "crypt_scheme": "sha512_crypt"}},
		{"md5 read as plain text", "eve:" + md5Secret + "\n", map[string]any{"name": "eve", "password": "secret"}},
		{"md5 scheme", "eve:" + md5Secret + "\n", map[string]any{"name": "eve", "password": "secret", "crypt_scheme": "md5_crypt"}},
		{"sha512 under bcrypt", "eve:" + sha512Secret + "\n", map[string]any{"name": "eve", "password": "secret", "crypt_scheme": "bcrypt"}},
		{"plaintext", "eve:secret\n", map[string]any{"name": "eve", "password": "secret", "crypt_scheme": "plaintext"}},
		{"removed", existing, map[string]any{"name": "bob", "state": "absent"}},
		{"not there", existing, map[string]any{"name": "zed", "state": "absent"}},
		{"no file", "", map[string]any{"name": "zed", "state": "absent"}},
		{"mode only", "alice:" + aprSecret + "\n", map[string]any{"name": "alice", "password": "secret", "mode": "0600"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var paths [2]string
			var changed [2]bool
			for i := range paths {
				paths[i] = filepath.Join(t.TempDir(), "sub", "htpasswd")
				if tc.file != "" {
					if err := os.MkdirAll(filepath.Dir(paths[i]), 0o755); err != nil {
						t.Fatal(err)
					}
					write(t, paths[i], tc.file, 0o644)
				}
				args := map[string]any{"path": paths[i]}
				for k, v := range tc.args {
					args[k] = v
				}
				if i == 0 {
					res := ansibletest.Run(t, "community.general.htpasswd", args, false)
					if res["failed"] == true {
						t.Fatalf("ansible: %v", res["msg"])
					}
					changed[0] = res["changed"] == true
					continue
				}
				h := moduletest.Local()
				m := moduletest.New(t, "community.general.htpasswd", args)
				d, err := m.Check(context.Background(), h)
				if err == nil && !d.Empty() {
					err = m.Apply(context.Background(), h, d)
				}
				if err != nil {
					t.Fatal(err)
				}
				changed[1] = !d.Empty()
				moduletest.NoChange(t, h, "htpasswd", args)
			}
			want, got := htpasswdShape(t, paths[0]), htpasswdShape(t, paths[1])
			if tc.name == "mode only" {
				// Ansible sets the mode but drops the change from changed
				// (check_file_attrs' result is ignored); gpuctl reports it.
				changed[0] = true
			}
			if got != want || changed[0] != changed[1] {
				t.Errorf("gpuctl changed=%v:\n%s\nansible changed=%v:\n%s", changed[1], got, changed[0], want)
			}
			if pw, _ := tc.args["password"].(string); pw != "" {
				// Ansible's file under gpuctl, gpuctl's under Ansible: nothing to do.
				args := map[string]any{"path": paths[0], "name": tc.args["name"], "password": pw}
				if s, ok := tc.args["crypt_scheme"]; ok {
					args["crypt_scheme"] = s
				}
				moduletest.NoChange(t, moduletest.Local(), "htpasswd", args)
				args["path"] = paths[1]
				if res := ansibletest.Run(t, "community.general.htpasswd", args, true); res["changed"] != false {
					t.Errorf("ansible would change gpuctl's file: %v", res)
				}
			}
		})
	}
}

var hashScheme = regexp.MustCompile(`^(\$2[aby]?\$\d+\$|\$[a-z0-9]+\$(rounds=\d+\$)?|\{SHA\})`)

// htpasswdShape is the file's mode and lines with each hash cut to its
// scheme (the salt is random).
func htpasswdShape(t *testing.T, p string) string {
	b, err := os.ReadFile(p)
	if os.IsNotExist(err) {
		return "(missing)"
	}
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(p)
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if u, h, ok := strings.Cut(l, ":"); ok && !strings.HasPrefix(l, "#") {
			if s := hashScheme.FindString(h); s != "" {
				h = s + "..."
			}
			l = u + ":" + h
		}
		out = append(out, l)
	}
	return fi.Mode().Perm().String() + "\n" + strings.Join(out, "\n")
}

// On a real host: a new file with its directory, mode and group; the
// password checked, not rewritten; the diff never shows a hash.
func TestHtpasswdHost(t *testing.T) {
	r := moduletest.Start(t, 1)[0]
	args := map[string]any{"path": "/etc/nginx/htpasswd", "name": "zabbix", "password": "s3cret-pw", "group": "deploy", "mode": "0640"}
	d := r.Timeline(t, "htpasswd", args, "/etc/nginx")
	for _, c := range d.Changes {
		if s := fmt.Sprint(c.Before, c.After); strings.Contains(s, "s3cret-pw") || c.Field == "content" && !strings.Contains(s, "zabbix:$apr1$") {
			t.Errorf("change %+v", c)
		}
	}
	if out := r.Run(t, "stat -c '%a %U %G' /etc/nginx/htpasswd; cut -c1-13 /etc/nginx/htpasswd"); out != "640 root deploy\nzabbix:$apr1$" {
		t.Errorf("host:\n%s", out)
	}
	args["password"] = "changed"
	args["crypt_scheme"] = "sha512_crypt"
	r.Timeline(t, "htpasswd", args, "/etc/nginx")
	if out := r.Run(t, "cut -c1-24 /etc/nginx/htpasswd"); out != "zabbix:$6$rounds=656000$" {
		t.Errorf("host: %s", out)
	}
	r.Timeline(t, "htpasswd", map[string]any{"path": "/etc/nginx/htpasswd", "name": "zabbix", "state": "absent"}, "/etc/nginx")
	if out := r.Run(t, "wc -c < /etc/nginx/htpasswd"); out != "0" {
		t.Errorf("left %s bytes", out)
	}
}

func TestHtpasswdMissingFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "htpasswd")
	_, err := moduletest.CheckOnly(t, moduletest.Local(), "htpasswd", map[string]any{"path": p, "name": "a", "password": "b", "create": false})
	if err == nil || !strings.Contains(err.Error(), "Destination "+p+" does not exist") {
		t.Errorf("check: %v", err)
	}
	write(t, p, "a:b:c\n", 0o644)
	_, err = moduletest.CheckOnly(t, moduletest.Local(), "htpasswd", map[string]any{"path": p, "name": "a", "password": "b"})
	if err == nil || !strings.Contains(err.Error(), "malformed htpasswd file (error reading line 1)") {
		t.Errorf("check: %v", err)
	}
}

func TestHtpasswdBadArgs(t *testing.T) {
	moduletest.BadArgs(t, "htpasswd", map[string]any{"name": "a", "password": "b"}, `missing required argument "path"`)
	moduletest.BadArgs(t, "htpasswd", map[string]any{"path": "/x", "password": "b"}, `missing required argument "name"`)
	moduletest.BadArgs(t, "htpasswd", map[string]any{"path": "/x", "name": "a"}, `state=present needs "password"`)
	moduletest.BadArgs(t, "htpasswd", map[string]any{"path": "x", "name": "a", "password": "b"}, "absolute path")
	moduletest.BadArgs(t, "htpasswd", map[string]any{"path": "/x", "name": "a:b", "password": "b"}, "without ':'")
	moduletest.BadArgs(t, "htpasswd", map[string]any{"path": "/x", "name": "a", "password": "b", "crypt_scheme": "des_crypt"}, "expected one of")
}
