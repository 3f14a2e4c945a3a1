package generic

import (
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/internal/ansibletest"
	"github.com/gpuctl/gpuctl/modules/moduletest"
)

func TestOpenSSHKeypairBadArgs(t *testing.T) {
	for _, tc := range []struct {
		args map[string]any
		want string
	}{
		{map[string]any{"path": "key"}, "must be absolute"},
		{map[string]any{"path": "/k", "size": 512}, "minimum size is 1024"},
		{map[string]any{"path": "/k", "type": "ecdsa", "size": 300}, "256, 384 or 521"},
		{map[string]any{"path": "/k", "type": "dsa", "size": 2048}, "exactly 1024"},
		{map[string]any{"path": "/k", "passphrase": "x"}, "cryptography backend"},
		{map[string]any{"path": "/k", "private_key_format": "pkcs8"}, "'auto' is the only valid option"},
		{map[string]any{"path": "/k", "type": "rsa2"}, "type"},
	} {
		moduletest.BadArgs(t, "openssh_keypair", tc.args, tc.want)
	}
}

// On a real host, with ssh-keygen there: the module contract, a key of the
// wrong type replaced (partial_idempotence) or refused (fail), a lost or
// re-commented public key written again without a new key, absent; and the
// same key files and result as community.crypto.openssh_keypair leaves on
// a second host.
func TestOpenSSHKeypairHost(t *testing.T) {
	hs := moduletest.Start(t, 2)
	r, theirs := hs[0], hs[1]
	const key = "/etc/ssh/gpuctl_test_key"
	args := map[string]any{"path": key, "type": "ed25519", "comment": "node key"}
	d, m := r.TimelineModule(t, "openssh_keypair", args)
	if !moduletest.HasChange(d, "file:"+key, "key pair") {
		t.Errorf("check mode: %s", moduletest.Describe(d))
	}
	res := moduletest.Result(m)
	if res["type"] != "ed25519" || res["size"] != 256 || res["comment"] != "node key" ||
		!strings.HasPrefix(res["fingerprint"].(string), "SHA256:") || !strings.HasPrefix(res["public_key"].(string), "ssh-ed25519 ") {
		t.Errorf("result %v", res)
	}
	if out := r.Run(t, "stat -c '%a %U' "+key+" "+key+".pub"); out != "600 root\n644 root" {
		t.Errorf("modes: %q", out)
	}
	fp := res["fingerprint"]

	t.Run("public key written again, key kept", func(t *testing.T) {
		r.Run(t, "rm "+key+".pub")
		d := r.Timeline(t, "openssh_keypair", args)
		if !moduletest.HasChange(d, "file:"+key+".pub", "public key") || moduletest.HasChange(d, "file:"+key, "key pair") {
			t.Errorf("want only the public key: %s", moduletest.Describe(d))
		}
		a := map[string]any{"path": key, "type": "ed25519", "comment": "renamed"}
		r.Timeline(t, "openssh_keypair", a)
		if out := r.Run(t, "cut -d' ' -f3- "+key+".pub; ssh-keygen -l -f "+key+" | cut -d' ' -f2"); out != "renamed\n"+fp.(string) {
			t.Errorf("comment or key: %q (fingerprint was %v)", out, fp)
		}
	})

	t.Run("wrong type", func(t *testing.T) {
		a := map[string]any{"path": key, "type": "rsa", "size": 2048, "regenerate": "fail"}
		if _, _, err := r.Apply(t, "openssh_keypair", a); err == nil || !strings.Contains(err.Error(), "Key has wrong type and/or size") {
			t.Errorf("regenerate: fail: %v", err)
		}
		a["regenerate"] = "partial_idempotence"
		d := r.Timeline(t, "openssh_keypair", a)
		if !moduletest.HasChange(d, "file:"+key, "key pair") {
			t.Errorf("want a new key: %s", moduletest.Describe(d))
		}
		if out := r.Run(t, "ssh-keygen -l -f "+key+" | cut -d' ' -f1,4"); out != "2048 (RSA)" {
			t.Errorf("key: %q", out)
		}
	})

	t.Run("mode and owner", func(t *testing.T) {
		// 0600: ssh-keygen refuses to read a private key others may read,
		// under either tool.
		a := map[string]any{"path": key, "type": "rsa", "size": 2048, "mode": "0600", "group": "ssh"}
		r.Run(t, "getent group ssh >/dev/null || groupadd ssh")
		r.Timeline(t, "openssh_keypair", a)
		if out := r.Run(t, "stat -c '%a %G' "+key+" "+key+".pub"); out != "600 ssh\n600 ssh" {
			t.Errorf("modes: %q", out)
		}
	})

	t.Run("like community.crypto", func(t *testing.T) {
		theirs.Run(t, "command -v python3 >/dev/null || apt-get install -y -q python3 >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get install -y -q python3 >/dev/null)")
		tgt := ansibletest.Target{Addr: theirs.TH.Addr, Port: theirs.TH.Port, KeyFile: theirs.TH.KeyFile, KnownHostsFile: theirs.TH.KnownHostsFile}
		a := map[string]any{"path": key, "type": "rsa", "size": 2048, "comment": "theirs"}
		ans := ansibletest.RunOn(t, tgt, "community.crypto.openssh_keypair", a, false)
		if ans["changed"] != true {
			t.Fatalf("ansible: %v", ans)
		}
		ours := theirs.NoChange(t, "openssh_keypair", a)
		for _, k := range []string{"size", "type", "filename", "fingerprint", "public_key", "comment"} {
			if !ansibletest.Same(ours[k], ans[k]) {
				t.Errorf("%s: gpuctl %v, ansible %v", k, ours[k], ans[k])
			}
		}
		if _, _, err := r.Apply(t, "openssh_keypair", a); err != nil {
			t.Fatal(err)
		}
		probe := "stat -c '%a %U %G' " + key + " " + key + ".pub; cut -d' ' -f1,3 " + key + ".pub; ssh-keygen -l -f " + key + " | cut -d' ' -f1,4"
		r.Run(t, "chmod 600 "+key+"; chmod 644 "+key+".pub; chgrp root "+key+" "+key+".pub")
		if got, want := r.Run(t, probe), theirs.Run(t, probe); got != want {
			t.Errorf("gpuctl's host:\n%s\nansible's:\n%s", got, want)
		}
	})

	t.Run("absent", func(t *testing.T) {
		r.Timeline(t, "openssh_keypair", map[string]any{"path": key, "state": "absent"})
		if out := r.Run(t, "ls "+key+"* 2>/dev/null | wc -l"); out != "0" {
			t.Errorf("left: %q", out)
		}
	})
}
