package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/internal/testhosts"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/moduletest"
)

// Test keys, generated once with gpg and kept as public keys only.
const (
	edKeyFpr  = "43B9E237110D1C07F0F96A792DE2F979465D34BE" // testdata/apt_key/ed25519.asc
	rsaKeyFpr = "D608E115B1DD4D471ABB10619E1A7426EC3F5CE6" // testdata/apt_key/rsa.gpg (binary)
)

func TestAptKeyValidate(t *testing.T) {
	armoured := "-----BEGIN PGP PUBLIC KEY BLOCK-----\n...\n-----END PGP PUBLIC KEY BLOCK-----"
	for _, tc := range []struct {
		args map[string]any
		err  string
	}{
		{map[string]any{"url": "https://x/k", "data": armoured}, "mutually exclusive"},
		{map[string]any{"id": "XYZ12345", "url": "https://x/k"}, "not a hexadecimal key id"},
		{map[string]any{"id": "ABCDEF1234", "url": "https://x/k"}, "8, 16 or more"},
		{map[string]any{"id": edKeyFpr}, ""},
		{map[string]any{"state": "absent", "url": "https://x/k"}, "state=absent needs id"},
		{map[string]any{"keyserver": "keyserver.ubuntu.com"}, "keyserver needs id"},
		{map[string]any{"state": "present"}, "give the key with url, data or file"},
		{map[string]any{"data": "not a key"}, "ASCII-armoured"},
		{map[string]any{"url": "k.asc"}, "not a URL"},
		{map[string]any{"file": "k.gpg"}, "absolute path on the host"},
		{map[string]any{"url": "https://x/k", "keyring": "debian.gpg"}, "keyring \"debian.gpg\""},
		{map[string]any{"url": "https://x/k", "validate_certs": false}, "validate_certs"},
		{map[string]any{"url": "https://x/k", "state": "gone"}, "state"},
		{map[string]any{"id": "0x" + edKeyFpr, "state": "absent"}, ""},
	} {
		_, err := modules.New("ansible.builtin.apt_key", tc.args)
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.err)
		}
	}
}

func TestParseKeyListing(t *testing.T) {
	out := `pub:-:4096:1:6ED0E7B82643E131:1674313200:1926774000::-:::scSC::::::23::0:
fpr:::::::::4CB50190207B4758A3F73A796ED0E7B82643E131:
uid:-::::1674313200::A1B2::Debian Archive Automatic Signing Key (12/bookworm) <ftpmaster@debian.org>::::::::::0:
sub:-:4096:1:AAAABBBBCCCCDDDD:1674313200::::::s::::::23:
pub:e:2048:1:1111222233334444:1262304000:1325376000::-:::sc::::::23::0:
pub:-:255:22:2DE2F979465D34BE:1796524284:::-:::scSC::::::23::0:
`
	got := fmt.Sprint(parseKeyListing(out))
	if want := "[6ED0E7B82643E131 AAAABBBBCCCCDDDD 2DE2F979465D34BE]"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	short, fp, full, err := parseKeyID("0x" + strings.ToLower(edKeyFpr))
	if err != nil || short != "465D34BE" || fp != "2DE2F979465D34BE" || full != edKeyFpr {
		t.Errorf("parseKeyID: %s %s %s %v", short, fp, full, err)
	}
}

// apt_key on a real Debian 12 host against ansible-core's apt_key on a
// twin: inline data to apt-key's default keyring, url with id into a
// keyring of trusted.gpg.d, a key file on the host, removal, and a key
// server (refused when the key is missing); each keeps the timeline, and
// both hosts end with the same keyrings.
func TestAptKeyAgainstAnsible(t *testing.T) {
	hs := moduletest.Start(t, 2)
	h, twin := hs[0], hs[1]
	ctx := context.Background()
	data, err := os.ReadFile("testdata/apt_key/ed25519.asc")
	if err != nil {
		t.Fatal(err)
	}
	url := serve(t, "testdata/apt_key", h)

	// Without gnupg: a clear error naming the package, known after apply in check mode.
	m, err := modules.New("apt_key", map[string]any{"data": string(data)})
	if err != nil {
		t.Fatal(err)
	}
	var ny *modules.NotYetError
	if _, err := m.Check(ctx, h); !errors.As(err, &ny) || !strings.Contains(err.Error(), "Debian package gnupg") {
		t.Fatalf("check without gpg: %v", err)
	}
	install := "apt-get install -y -q --no-install-recommends gnupg python3 >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends gnupg python3 >/dev/null)"
	for _, x := range hs {
		x.TH.Run(t, install+" && base64 -d > /root/rsa.gpg <<'EOF'\n"+b64File(t, "testdata/apt_key/rsa.gpg")+"\nEOF")
	}

	steps := []map[string]any{
		{"data": string(data)},
		{"id": rsaKeyFpr, "url": url + "rsa.gpg", "keyring": "/etc/apt/trusted.gpg.d/gpuctl-test.gpg"},
		{"file": "/root/rsa.gpg", "keyring": "/etc/apt/keyrings/from-file.gpg"},
		{"id": "0x" + edKeyFpr, "state": "absent"},
		{"url": url + "ed25519.asc", "keyring": "/etc/apt/keyrings/from-url.gpg"},
	}
	for _, args := range steps {
		h.Timeline(t, "ansible.builtin.apt_key", args)
	}
	m, _ = modules.New("apt_key", steps[4])
	if _, err := m.Check(ctx, h); err != nil {
		t.Fatal(err)
	}
	if r := m.(modules.Resulter).Result(); r["id"] != "2DE2F979465D34BE" || r["short_id"] != "465D34BE" || fmt.Sprint(r["before"]) != "[2DE2F979465D34BE]" {
		t.Errorf("registered result %v", r)
	}
	// A key server is refused only when the key is missing.
	h.NoChange(t, "apt_key", map[string]any{"keyserver": "keyserver.ubuntu.com", "id": rsaKeyFpr})
	m, _ = modules.New("apt_key", map[string]any{"keyserver": "keyserver.ubuntu.com", "id": edKeyFpr})
	if _, err := m.Check(ctx, h); err == nil || !strings.Contains(err.Error(), "does not fetch keys from key servers") {
		t.Errorf("keyserver for a missing key: %v", err)
	}

	runAnsibleTasks(t, twin.TH, steps)
	got, want := keyringState(t, h.TH), keyringState(t, twin.TH)
	if got != want {
		t.Errorf("end state differs\ngpuctl:\n%s\nansible-core:\n%s", got, want)
	}
	t.Logf("end state (both):\n%s", got)
}

// keyringState lists every keyring apt-key may have written, with its mode
// and the fingerprints it holds.
func keyringState(t *testing.T, h testhosts.Host) string {
	return h.Run(t, `for f in /etc/apt/trusted.gpg /etc/apt/trusted.gpg.d/* /etc/apt/keyrings/*; do [ -f "$f" ] || continue; `+
		`echo "$f $(stat -c %a "$f") $(gpg --no-default-keyring --keyring "$f" --with-colons --list-keys 2>/dev/null | awk -F: '$1=="fpr"{print $10}' | tr '\n' ' ')"; done`)
}

// runAnsibleTasks runs the steps as apt_key tasks with ansible-playbook.
func runAnsibleTasks(t *testing.T, h testhosts.Host, steps []map[string]any) {
	if _, err := exec.LookPath("ansible-playbook"); err != nil {
		t.Skip("ansible-playbook is not installed")
	}
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("- hosts: all\n  gather_facts: false\n  tasks:\n")
	for i, s := range steps {
		fmt.Fprintf(&b, "    - name: step %d\n      apt_key:\n", i)
		for k, v := range s {
			fmt.Fprintf(&b, "        %s: %q\n", k, v)
		}
	}
	play := filepath.Join(dir, "play.yml")
	inv := filepath.Join(dir, "inv.ini")
	os.WriteFile(play, []byte(b.String()), 0o644)
	os.WriteFile(inv, []byte(fmt.Sprintf("%s ansible_host=%s ansible_port=%d ansible_user=root ansible_ssh_private_key_file=%s ansible_python_interpreter=/usr/bin/python3 ansible_ssh_common_args='-o UserKnownHostsFile=%s'\n",
		h.Name, h.Addr, h.Port, h.KeyFile, h.KnownHostsFile)), 0o644)
	cmd := exec.Command("ansible-playbook", "-i", inv, play)
	cmd.Env = append(os.Environ(), "ANSIBLE_NOCOLOR=1", "HOME="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ansible-playbook: %v\n%s", err, out)
	}
}

func b64File(t *testing.T, p string) string {
	out, err := exec.Command("base64", "-w0", p).Output()
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}
