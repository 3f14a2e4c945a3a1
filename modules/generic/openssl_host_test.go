package generic

import (
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/internal/ansibletest"
	"github.com/gpuctl/gpuctl/modules/moduletest"
)

func ansibleTarget(r *moduletest.Remote) ansibletest.Target {
	return ansibletest.Target{Addr: r.TH.Addr, Port: r.TH.Port, KeyFile: r.TH.KeyFile, KnownHostsFile: r.TH.KnownHostsFile}
}

// installPython gives the host what community.crypto needs there: python3
// for Ansible, and the cryptography library when crypto is set.
func installPython(t *testing.T, r *moduletest.Remote, crypto bool) {
	pkgs := "python3"
	if crypto {
		pkgs += " python3-cryptography"
	}
	r.Run(t, "apt-get install -y -q "+pkgs+" >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get install -y -q "+pkgs+" >/dev/null)")
}

// On a real host with openssl: the module contract, a size change, mode,
// force, backup and absent; and community.crypto.openssl_dhparam (its
// openssl backend: no cryptography on the host) deciding the same on the
// same files.
func TestOpenSSLDHParamHost(t *testing.T) {
	r := moduletest.Start(t, 1)[0]
	const dh = "/etc/ssl/gpuctl_dh.pem"
	args := map[string]any{"path": dh, "size": 512, "mode": "0640", "return_content": true}
	d, m := r.TimelineModule(t, "openssl_dhparam", args)
	if !moduletest.HasChange(d, "file:"+dh, "DH parameters") {
		t.Errorf("check mode: %s", moduletest.Describe(d))
	}
	res := moduletest.Result(m)
	pem, _ := res["dhparams"].(string)
	if res["size"] != 512 || res["filename"] != dh || !strings.HasPrefix(pem, "-----BEGIN DH PARAMETERS-----\n") ||
		!strings.HasSuffix(pem, "-----END DH PARAMETERS-----\n") {
		t.Errorf("result %v", res)
	}
	if out := r.Run(t, "stat -c %a "+dh+"; openssl dhparam -in "+dh+" -text -noout | head -1"); !strings.Contains(out, "640\n") || !strings.Contains(out, "(512 bit)") {
		t.Errorf("file: %q", out)
	}

	t.Run("size, force, backup", func(t *testing.T) {
		a := map[string]any{"path": dh, "size": 1024, "backup": true}
		_, res, err := r.Apply(t, "openssl_dhparam", a)
		if b, _ := res["backup_file"].(string); err != nil || !strings.HasPrefix(b, dh+".") {
			t.Fatalf("apply: %v %v", err, res)
		}
		r.NoChange(t, "openssl_dhparam", a)
		if out := r.Run(t, "stat -c %a "+dh+"; openssl dhparam -in "+dh+" -text -noout | head -1"); !strings.Contains(out, "640\n") || !strings.Contains(out, "(1024 bit)") {
			t.Errorf("a replaced file keeps its mode: %q", out)
		}
		a = map[string]any{"path": dh, "size": 1024, "force": true}
		if d, err := r.CheckOnly(t, "openssl_dhparam", a); err != nil || d.Empty() {
			t.Errorf("force: %v %s", err, moduletest.Describe(d))
		}
		r.Run(t, "echo broken > "+dh)
		if d, err := r.CheckOnly(t, "openssl_dhparam", map[string]any{"path": dh, "size": 1024}); err != nil || d.Empty() {
			t.Errorf("broken file: %v %s", err, moduletest.Describe(d))
		}
	})

	t.Run("like community.crypto", func(t *testing.T) {
		installPython(t, r, false)
		tgt := ansibleTarget(r)
		const theirs = "/etc/ssl/ansible_dh.pem"
		a := map[string]any{"path": theirs, "size": 512}
		if d, err := r.CheckOnly(t, "openssl_dhparam", a); err != nil || d.Empty() {
			t.Errorf("fresh: gpuctl finds nothing to do: %v", err)
		}
		if ans := ansibletest.RunOn(t, tgt, "community.crypto.openssl_dhparam", a, false); ans["changed"] != true || !ansibletest.Same(512, ans["size"]) {
			t.Fatalf("ansible fresh: %v", ans)
		}
		ours := r.NoChange(t, "openssl_dhparam", a)
		if ans := ansibletest.RunOn(t, tgt, "community.crypto.openssl_dhparam", a, false); ans["changed"] != false {
			t.Errorf("ansible second run: %v", ans)
		} else {
			for _, k := range []string{"size", "filename"} {
				if !ansibletest.Same(ours[k], ans[k]) {
					t.Errorf("%s: gpuctl %v, ansible %v", k, ours[k], ans[k])
				}
			}
		}
		// gpuctl's file, as the collection sees it; a size change, both.
		mine := map[string]any{"path": dh, "size": 512}
		r.Timeline(t, "openssl_dhparam", mine)
		if ans := ansibletest.RunOn(t, tgt, "community.crypto.openssl_dhparam", mine, false); ans["changed"] != false {
			t.Errorf("ansible on gpuctl's file: %v", ans)
		}
		bigger := map[string]any{"path": dh, "size": 1024}
		if ans := ansibletest.RunOn(t, tgt, "community.crypto.openssl_dhparam", bigger, true); ans["changed"] != true {
			t.Errorf("ansible size change: %v", ans)
		}
		if d, err := r.CheckOnly(t, "openssl_dhparam", bigger); err != nil || d.Empty() {
			t.Errorf("gpuctl size change: %v", err)
		}
	})

	t.Run("absent", func(t *testing.T) {
		r.Timeline(t, "openssl_dhparam", map[string]any{"path": dh, "state": "absent"})
		if out := r.Run(t, "ls "+dh+" 2>/dev/null | wc -l"); out != "0" {
			t.Errorf("left: %q", out)
		}
	})
}

// On a real host, with python3-cryptography there for the collection:
// every key type gpuctl makes is one community.crypto.openssl_privatekey
// keeps (changed=false) with the same fingerprints, and a key it made is
// one gpuctl keeps; passphrases, format conversion, regenerate and absent.
func TestOpenSSLPrivateKeyHost(t *testing.T) {
	r := moduletest.Start(t, 1)[0]
	r.Run(t, "mkdir -p /etc/ssl/gpuctl")
	const key = "/etc/ssl/gpuctl/rsa.key"
	args := map[string]any{"path": key, "size": 2048, "return_content": true}
	d, m := r.TimelineModule(t, "openssl_privatekey", args)
	if !moduletest.HasChange(d, "file:"+key, "private key") {
		t.Errorf("check mode: %s", moduletest.Describe(d))
	}
	res := moduletest.Result(m)
	fp, _ := res["fingerprint"].(map[string]any)
	pem, _ := res["privatekey"].(string)
	if res["type"] != "RSA" || res["size"] != 2048 || len(fp) != 14 || !strings.HasPrefix(pem, "-----BEGIN RSA PRIVATE KEY-----\n") {
		t.Errorf("result %v", res)
	}
	if out := r.Run(t, "stat -c '%a %U' "+key+"; openssl pkey -in "+key+" -noout -text | head -1"); out != "600 root\nPrivate-Key: (2048 bit, 2 primes)" {
		t.Errorf("key: %q", out)
	}
	installPython(t, r, true)
	tgt := ansibleTarget(r)
	same := func(t *testing.T, args map[string]any, keys ...string) {
		t.Helper()
		ours := r.NoChange(t, "openssl_privatekey", args)
		ans := ansibletest.RunOn(t, tgt, "community.crypto.openssl_privatekey", args, false)
		if ans["changed"] != false {
			t.Errorf("ansible changed=%v on gpuctl's key (%v)", ans["changed"], ans["msg"])
		}
		for _, k := range append([]string{"type", "size", "filename", "fingerprint"}, keys...) {
			if !ansibletest.Same(ours[k], ans[k]) {
				t.Errorf("%s: gpuctl %v, ansible %v", k, ours[k], ans[k])
			}
		}
	}
	same(t, args, "privatekey")

	for _, tc := range []struct {
		name string
		args map[string]any
	}{
		{"ecc", map[string]any{"type": "ECC", "curve": "secp256r1"}},
		{"ecc brainpool", map[string]any{"type": "ECC", "curve": "brainpoolP384r1", "format": "auto"}},
		{"ed25519", map[string]any{"type": "Ed25519", "format": "auto"}},
		{"ed448", map[string]any{"type": "Ed448"}},
		{"x25519 raw", map[string]any{"type": "X25519", "format": "raw", "return_content": true}},
		{"rsa pkcs8", map[string]any{"size": 2048, "format": "pkcs8"}},
		{"rsa passphrase", map[string]any{"size": 2048, "passphrase": "s3cret pass", "cipher": "auto", "format": "auto"}},
		{"ecc passphrase pkcs8", map[string]any{"type": "ECC", "curve": "secp384r1", "passphrase": "s3cret", "cipher": "auto", "format": "pkcs8"}},
		{"dsa", map[string]any{"type": "DSA", "size": 1024}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.args["path"] = "/etc/ssl/gpuctl/" + strings.ReplaceAll(tc.name, " ", "_") + ".key"
			r.Timeline(t, "openssl_privatekey", tc.args)
			var extra []string
			if tc.args["type"] == "ECC" {
				extra = append(extra, "curve")
			}
			if tc.args["return_content"] == true {
				extra = append(extra, "privatekey")
			}
			same(t, tc.args, extra...)
		})
	}

	t.Run("passphrase mismatch", func(t *testing.T) {
		a := map[string]any{"path": "/etc/ssl/gpuctl/rsa_passphrase.key", "size": 2048, "passphrase": "other", "cipher": "auto", "regenerate": "partial_idempotence"}
		if _, _, err := r.Apply(t, "openssl_privatekey", a); err == nil || !strings.Contains(err.Error(), "Unable to read the key") {
			t.Errorf("gpuctl: %v", err)
		}
		if ans := ansibletest.RunOn(t, tgt, "community.crypto.openssl_privatekey", a, true); ans["failed"] != true || !strings.Contains(ans["msg"].(string), "Unable to read the key") {
			t.Errorf("ansible: %v", ans)
		}
		a["regenerate"] = "full_idempotence" // the default: both would make a new key
		if d, err := r.CheckOnly(t, "openssl_privatekey", a); err != nil || !moduletest.HasChange(d, "file:"+a["path"].(string), "private key") {
			t.Errorf("gpuctl: %v %s", err, moduletest.Describe(d))
		}
		if ans := ansibletest.RunOn(t, tgt, "community.crypto.openssl_privatekey", a, true); ans["changed"] != true {
			t.Errorf("ansible: %v", ans)
		}
	})

	t.Run("ansible's key, size change", func(t *testing.T) {
		a := map[string]any{"path": "/etc/ssl/gpuctl/theirs.key", "size": 2048}
		if ans := ansibletest.RunOn(t, tgt, "community.crypto.openssl_privatekey", a, false); ans["changed"] != true {
			t.Fatalf("ansible fresh: %v", ans)
		} else if ours := r.NoChange(t, "openssl_privatekey", a); !ansibletest.Same(ours["fingerprint"], ans["fingerprint"]) {
			t.Errorf("fingerprint: gpuctl %v, ansible %v", ours["fingerprint"], ans["fingerprint"])
		}
		b := map[string]any{"path": a["path"], "size": 1024}
		if ans := ansibletest.RunOn(t, tgt, "community.crypto.openssl_privatekey", b, true); ans["changed"] != true {
			t.Errorf("ansible size change: %v", ans)
		}
		if d, err := r.CheckOnly(t, "openssl_privatekey", b); err != nil || d.Empty() {
			t.Errorf("gpuctl size change: %v", err)
		}
		b["regenerate"] = "fail"
		if _, _, err := r.Apply(t, "openssl_privatekey", b); err == nil || !strings.Contains(err.Error(), "Key has wrong type and/or size") {
			t.Errorf("regenerate: fail: %v", err)
		}
	})

	t.Run("convert and mode", func(t *testing.T) {
		a := map[string]any{"path": key, "size": 2048, "format": "pkcs8", "format_mismatch": "convert", "mode": "0640", "backup": true}
		d := r.Timeline(t, "openssl_privatekey", a)
		if !moduletest.HasChange(d, "file:"+key, "key format") || moduletest.HasChange(d, "file:"+key, "private key") {
			t.Errorf("want a conversion only: %s", moduletest.Describe(d))
		}
		same(t, map[string]any{"path": key, "size": 2048, "format": "pkcs8", "mode": "0640"})
		if ours := r.NoChange(t, "openssl_privatekey", a); !ansibletest.Same(ours["fingerprint"], fp) {
			t.Errorf("conversion changed the key: %v, was %v", ours["fingerprint"], fp)
		}
		if out := r.Run(t, "stat -c %a "+key+"; head -1 "+key+"; ls "+key+".*~ | wc -l"); out != "640\n-----BEGIN PRIVATE KEY-----\n1" {
			t.Errorf("file: %q", out)
		}
	})

	t.Run("absent", func(t *testing.T) {
		r.Timeline(t, "openssl_privatekey", map[string]any{"path": key, "state": "absent"})
		if out := r.Run(t, "ls "+key+" 2>/dev/null | wc -l"); out != "0" {
			t.Errorf("left: %q", out)
		}
	})
}
