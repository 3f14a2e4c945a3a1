package node

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/moduletest"
)

// TestAptRepositoryPPAHost runs apt_repository's ppa: form on a real
// Debian 12 host: absent removes the line Ansible derives from the host's
// codename; present on Debian fails naming the OS unless codename names an
// Ubuntu release; present with Launchpad out of reach fails naming the API
// URL (known after apply under --check); and, with the host dressed as
// Ubuntu and Launchpad's API and the key server served on loopback, the
// whole present path: key trusted through apt-key, the line in Ansible's
// file, then nothing to do.
func TestAptRepositoryPPAHost(t *testing.T) {
	h := moduletest.Start(t, 1)[0]
	const (
		repo    = "ppa:graphics-drivers/ppa"
		debLine = "deb http://ppa.launchpad.net/graphics-drivers/ppa/ubuntu bookworm main"
		debFile = "/etc/apt/sources.list.d/ppa_graphics_drivers_ppa_bookworm.list"
		apiURL  = "https://launchpad.net/api/1.0/~graphics-drivers/+archive/ppa"
	)

	t.Run("absent removes the line of the host's codename", func(t *testing.T) {
		h.Run(t, "echo '"+debLine+"' > "+debFile+"; echo 'deb http://example.invalid/debian bookworm main' > /etc/apt/sources.list.d/other.list")
		t.Cleanup(func() { h.Run(t, "rm -f /etc/apt/sources.list.d/other.list") })
		// update_cache false: the test host's own mirror is not this test's.
		_, m := h.TimelineModule(t, "ansible.builtin.apt_repository", map[string]any{"repo": repo, "state": "absent", "update_cache": false})
		if got := h.Run(t, "ls /etc/apt/sources.list.d"); strings.Contains(got, "ppa_graphics") || !strings.Contains(got, "other.list") {
			t.Errorf("sources.list.d:\n%s", got)
		}
		if res := moduletest.Result(m); res["repo"] != repo || res["state"] != "absent" {
			t.Errorf("result %v", res)
		}
		h.NoChange(t, "apt_repository", map[string]any{"repo": repo, "state": "absent"})
	})

	t.Run("present on Debian without codename", func(t *testing.T) {
		_, err := h.CheckOnly(t, "apt_repository", map[string]any{"repo": repo})
		if err == nil || !strings.Contains(err.Error(), "Debian GNU/Linux 12") || !strings.Contains(err.Error(), "codename") {
			t.Errorf("got %v", err)
		}
	})

	t.Run("present with Launchpad out of reach", func(t *testing.T) {
		args := map[string]any{"repo": repo, "codename": "jammy"}
		d, err := h.CheckOnly(t, "apt_repository", args)
		if err != nil || !strings.Contains(d.Unknown, apiURL) {
			t.Errorf("check mode: err=%v unknown=%q", err, d.Unknown)
		}
		if _, _, err := h.Apply(t, "apt_repository", args); err == nil || !strings.Contains(err.Error(), "failed to fetch PPA information from "+apiURL) {
			t.Errorf("apply: %v", err)
		}
		if got := h.Run(t, "ls /etc/apt/sources.list.d"); strings.Contains(got, "ppa_") {
			t.Errorf("a failed add left %s", got)
		}
	})

	t.Run("present on Ubuntu, Launchpad served locally", func(t *testing.T) {
		needTools(t, "gpg")
		h.Run(t, "command -v gpg-agent >/dev/null || apt-get install -y -q --no-install-recommends gnupg >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends gnupg >/dev/null)")
		h.Run(t, "cp /etc/os-release /root/os-release.debian && rm -f /etc/os-release && printf 'NAME=\"Ubuntu\"\\nVERSION_ID=\"22.04\"\\nID=ubuntu\\nID_LIKE=debian\\nPRETTY_NAME=\"Ubuntu 22.04.4 LTS\"\\nVERSION_CODENAME=jammy\\nUBUNTU_CODENAME=jammy\\n' > /etc/os-release")
		t.Cleanup(func() { h.Run(t, "mv /root/os-release.debian /etc/os-release") })

		gpgEnv := newGPG(t)
		key := run(t, "", gpgEnv, "gpg", "--armor", "--export")
		var fpr string
		for l := range strings.SplitSeq(run(t, "", gpgEnv, "gpg", "--with-colons", "--fingerprint"), "\n") {
			if f := strings.Split(l, ":"); f[0] == "fpr" && fpr == "" {
				fpr = f[9]
			}
		}
		dir := t.TempDir()
		os.MkdirAll(filepath.Join(dir, "api", "~graphics-drivers", "+archive"), 0o755)
		os.WriteFile(filepath.Join(dir, "api", "~graphics-drivers", "+archive", "ppa"), []byte(`{"signing_key_fingerprint": "`+strings.ToLower(fpr)+`", "name": "ppa"}`), 0o644)
		os.MkdirAll(filepath.Join(dir, "pks"), 0o755)
		os.WriteFile(filepath.Join(dir, "pks", "lookup"), []byte(key), 0o644)
		url := serve(t, dir, h)
		build := func() modules.Module {
			m := moduletest.New(t, "apt_repository", map[string]any{"repo": repo, "update_cache": false}).(*AptRepository)
			m.ppa.launchpad, m.ppa.keyserver = url+"api/~%s/+archive/%s", url+"pks/lookup?op=get&search=0x%s"
			return m
		}
		ctx := context.Background()
		const file = "/etc/apt/sources.list.d/ppa_graphics_drivers_ppa_jammy.list"
		before := h.Run(t, "ls /etc/apt/sources.list.d; apt-key list 2>/dev/null | grep -c pub || true")
		d, err := modules.CheckOnly(ctx, build(), h)
		if err != nil || !moduletest.HasChange(d, "apt-key:"+fpr, "key") || !moduletest.HasChange(d, "file:"+file, "") {
			t.Fatalf("check mode: err=%v diff:\n%s", err, moduletest.Describe(d))
		}
		if after := h.Run(t, "ls /etc/apt/sources.list.d; apt-key list 2>/dev/null | grep -c pub || true"); after != before {
			t.Fatalf("check mode changed the host:\n%s\n%s", before, after)
		}
		m := build()
		if d, err = m.Check(ctx, h); err == nil {
			err = m.Apply(ctx, h, d)
		}
		if err != nil {
			t.Fatal(err)
		}
		if got := h.Run(t, "cat "+file); got != "deb http://ppa.launchpad.net/graphics-drivers/ppa/ubuntu jammy main" {
			t.Errorf("%s: %q", file, got)
		}
		if got := h.Run(t, "apt-key export "+fpr+" 2>/dev/null | head -1"); got != "-----BEGIN PGP PUBLIC KEY BLOCK-----" {
			t.Errorf("apt-key does not trust the key: %q", got)
		}
		for _, m := range []modules.Module{m, build()} {
			if d, err := m.Check(ctx, h); err != nil || !d.Empty() {
				t.Errorf("after apply: err=%v diff:\n%s", err, moduletest.Describe(d))
			}
		}
		// absent removes the line; the key stays, as in Ansible.
		h.Timeline(t, "apt_repository", map[string]any{"repo": repo, "state": "absent", "update_cache": false})
	})
}
