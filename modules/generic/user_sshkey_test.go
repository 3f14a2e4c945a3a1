package generic_test

import (
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/internal/ansibletest"
	"github.com/gpuctl/gpuctl/modules/moduletest"
	"github.com/gpuctl/gpuctl/plan"
)

// user's generate_ssh_key on a real Debian host: ssh-keygen runs on the
// host, the key and its directory belong to the user, an existing key is
// never replaced without force, and what is registered matches the host's
// own ssh-keygen and what ansible-core registers.
func TestUserSSHKeyHost(t *testing.T) {
	r := moduletest.Start(t, 1)[0]
	tl := func(t *testing.T, args map[string]any) plan.Diff {
		t.Helper()
		return r.Timeline(t, "user", args, "/home", "/srv")
	}
	hostname := r.Run(t, "uname -n")
	t.Run("new user with the default key", func(t *testing.T) {
		args := map[string]any{"name": "keyuser", "generate_ssh_key": true}
		d := tl(t, args)
		if !moduletest.HasChange(d, "file:/home/keyuser/.ssh/id_rsa", "ssh_key") {
			t.Errorf("check-mode diff lacks the key:\n%s", moduletest.Describe(d))
		}
		out := r.Run(t, "stat -c '%a %U %G' /home/keyuser/.ssh /home/keyuser/.ssh/id_rsa /home/keyuser/.ssh/id_rsa.pub; cut -d' ' -f1,3- /home/keyuser/.ssh/id_rsa.pub")
		if want := "700 keyuser keyuser\n600 keyuser keyuser\n644 keyuser keyuser\nssh-rsa ansible-generated on " + hostname; out != want {
			t.Errorf("host:\n%s\nwant:\n%s", out, want)
		}
		res := r.NoChange(t, "user", args)
		if res["ssh_key_file"] != "/home/keyuser/.ssh/id_rsa" || res["ssh_fingerprint"] != r.Run(t, "ssh-keygen -l -f /home/keyuser/.ssh/id_rsa") ||
			res["ssh_public_key"] != r.Run(t, "cat /home/keyuser/.ssh/id_rsa.pub") {
			t.Errorf("result %v", res)
		}
	})
	t.Run("existing user: type, file, comment, passphrase", func(t *testing.T) {
		r.Run(t, "useradd -m pkuser")
		args := map[string]any{"name": "pkuser", "generate_ssh_key": true, "ssh_key_type": "ed25519",
			"ssh_key_file": ".ssh/deploy_key", "ssh_key_comment": "deploy key", "ssh_key_passphrase": "correct horse"}
		tl(t, args)
		out := r.Run(t, "cut -d' ' -f1,3- /home/pkuser/.ssh/deploy_key.pub; ssh-keygen -y -P 'correct horse' -f /home/pkuser/.ssh/deploy_key >/dev/null && echo opens; ssh-keygen -y -P '' -f /home/pkuser/.ssh/deploy_key >/dev/null 2>&1 || echo locked")
		if out != "ssh-ed25519 deploy key\nopens\nlocked" {
			t.Errorf("host:\n%s", out)
		}
	})
	t.Run("absolute path in a new directory, rsa bits", func(t *testing.T) {
		tl(t, map[string]any{"name": "pkuser", "generate_ssh_key": true, "ssh_key_file": "/srv/pkkeys/id", "ssh_key_bits": 3072})
		if out := r.Run(t, "stat -c '%a %U' /srv/pkkeys; ssh-keygen -l -f /srv/pkkeys/id | cut -d' ' -f1"); out != "700 pkuser\n3072" {
			t.Errorf("host:\n%s", out)
		}
	})
	t.Run("an existing key is kept", func(t *testing.T) {
		before := r.Run(t, "sha256sum /home/keyuser/.ssh/id_rsa")
		res := r.NoChange(t, "user", map[string]any{"name": "keyuser", "generate_ssh_key": true, "ssh_key_type": "ed25519", "ssh_key_file": ".ssh/id_rsa"})
		if r.Run(t, "sha256sum /home/keyuser/.ssh/id_rsa") != before || !strings.HasPrefix(res["ssh_public_key"].(string), "ssh-rsa ") {
			t.Errorf("key replaced, or result %v", res)
		}
		// Only the public half left: still kept, as Ansible keeps it.
		r.Run(t, "install -d -o keyuser /home/keyuser/half && echo 'ssh-ed25519 AAAA x' > /home/keyuser/half/k.pub")
		r.NoChange(t, "user", map[string]any{"name": "keyuser", "generate_ssh_key": true, "ssh_key_file": "half/k"})
	})
	t.Run("force regenerates every time", func(t *testing.T) {
		args := map[string]any{"name": "keyuser", "generate_ssh_key": true, "force": true}
		before := r.Run(t, "cat /home/keyuser/.ssh/id_rsa.pub")
		for i := range 2 {
			d, res, err := r.Apply(t, "user", args)
			if err != nil || d.Empty() {
				t.Fatalf("run %d: %v %s", i, err, moduletest.Describe(d))
			}
			after := r.Run(t, "cat /home/keyuser/.ssh/id_rsa.pub")
			if after == before || res["ssh_public_key"] != after {
				t.Errorf("run %d: key not regenerated, or result %v", i, res)
			}
			before = after
		}
	})
	t.Run("check mode on a user about to be made", func(t *testing.T) {
		d, err := r.CheckOnly(t, "user", map[string]any{"name": "later", "generate_ssh_key": true})
		if err != nil || !moduletest.HasChange(d, "file:/home/later/.ssh/id_rsa", "ssh_key") {
			t.Errorf("%v\n%s", err, moduletest.Describe(d))
		}
	})
	t.Run("like ansible-core", func(t *testing.T) {
		// ansible-core's module runs on the host in python3, which the test image lacks.
		r.Run(t, "command -v python3 >/dev/null || apt-get install -y -q python3 >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get install -y -q python3 >/dev/null)")
		args := map[string]any{"name": "ansuser", "generate_ssh_key": true, "ssh_key_bits": 2048, "ssh_key_comment": "made by ansible"}
		theirs := ansibletest.RunOn(t, target(r), "user", args, false)
		if theirs["changed"] != true {
			t.Fatalf("ansible: %v", theirs)
		}
		ours := r.NoChange(t, "user", args)
		for _, k := range []string{"ssh_fingerprint", "ssh_key_file", "ssh_public_key", "home", "name"} {
			if !ansibletest.Same(ours[k], theirs[k]) {
				t.Errorf("%s: ours %v, ansible's %v", k, ours[k], theirs[k])
			}
		}
		// gpuctl's key (keyuser) has the modes and owners Ansible gives its own.
		ours2 := r.Run(t, "stat -c '%a %U' /home/keyuser/.ssh /home/keyuser/.ssh/id_rsa /home/keyuser/.ssh/id_rsa.pub")
		theirs2 := r.Run(t, "stat -c '%a %U' /home/ansuser/.ssh /home/ansuser/.ssh/id_rsa /home/ansuser/.ssh/id_rsa.pub")
		if strings.ReplaceAll(ours2, "keyuser", "U") != strings.ReplaceAll(theirs2, "ansuser", "U") {
			t.Errorf("modes: ours\n%s\nansible's\n%s", ours2, theirs2)
		}
		// And ansible-core finds nothing to do on a key gpuctl made.
		if again := ansibletest.RunOn(t, target(r), "user", map[string]any{"name": "keyuser", "generate_ssh_key": true}, false); again["changed"] != false {
			t.Errorf("ansible changed gpuctl's key: %v", again)
		}
	})
}

func TestUserSSHKeyBadArgs(t *testing.T) {
	for _, tc := range []struct {
		args map[string]any
		want string
	}{
		{map[string]any{"name": "a", "generate_ssh_key": true, "ssh_key_bits": -1}, "ssh_key_bits"},
		{map[string]any{"name": "a", "generate_ssh_key": true, "ssh_key_type": "rsa; rm -rf /"}, "ssh_key_type"},
		{map[string]any{"name": "a", "generate_ssh_key": true, "ssh_key_file": ""}, "ssh_key_file"},
		{map[string]any{"name": "a", "generate_ssh_key": true, "ssh_key_file": "a\nb"}, "ssh_key_file"},
		{map[string]any{"name": "a", "generate_ssh_key": true, "ssh_key_passphrase": "a\nb"}, "ssh_key_passphrase"},
		{map[string]any{"name": "a", "generate_ssh_key": true, "ssh_key_comment": "a\nb"}, "ssh_key_comment"},
		{map[string]any{"name": "a", "generate_ssh_key": "maybe"}, "generate_ssh_key"},
	} {
		moduletest.BadArgs(t, "user", tc.args, tc.want)
	}
}
