package node

import (
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/modules/moduletest"
)

// TestDeb822RepositoryHost runs deb822_repository on a real Debian 12 host
// against a signed repository served on loopback: the key downloaded from
// a URL on the host, the file Ansible writes, apt's next update_cache
// seeing the new source and installing from it, the inline and path forms
// of signed_by, mode, absent, and an unreachable key URL.
func TestDeb822RepositoryHost(t *testing.T) {
	gpgEnv := newGPG(t)
	dir, key := buildRepo(t, gpgEnv, []fakeDeb{
		{Name: "gpuctl-deb822", Version: "1.0-1", Files: map[string][]byte{"/usr/bin/gpuctl-deb822": script("deb822 1.0")}},
	}, "bookworm", "stable")
	h := moduletest.Start(t, 1)[0]
	url := serve(t, dir, h)
	const (
		dest    = "/etc/apt/sources.list.d/gpuctl-test.sources"
		keyFile = "/etc/apt/keyrings/gpuctl-test.asc"
	)
	repo := func(kv ...any) map[string]any {
		m := map[string]any{"name": "gpuctl Test", "types": "deb", "uris": url, "suites": "bookworm", "components": "stable", "signed_by": url + "gpg"}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	stanza := func(signedBy string) string {
		return "Components: stable\nX-Repolib-Name: gpuctl Test\nSigned-By: " + signedBy + "\nSuites: bookworm\nTypes: deb\nURIs: " + url + "\n"
	}

	t.Run("present with a key URL", func(t *testing.T) {
		// A fresh cache: only the new source can make the next update due.
		if _, _, err := h.Apply(t, "apt", map[string]any{"update_cache": true, "cache_valid_time": 3600}); err != nil {
			t.Fatal(err)
		}
		d, m := h.TimelineModule(t, "deb822_repository", repo())
		for _, r := range []string{"file:" + keyFile, "file:" + dest} {
			if !moduletest.HasChange(d, r, "") {
				t.Errorf("check mode did not report %s:\n%s", r, moduletest.Describe(d))
			}
		}
		// --diff shows the file as it will be.
		for _, c := range d.Changes {
			if c.Resource == "file:"+dest && c.Field == "content" && (!c.Content || c.After != stanza(keyFile)) {
				t.Errorf("diff of %s: %+v", dest, c)
			}
		}
		if got := h.Run(t, "cat "+dest); got+"\n" != stanza(keyFile) {
			t.Errorf("%s:\n%s\nwant:\n%s", dest, got, stanza(keyFile))
		}
		if got := h.Run(t, "stat -c %a "+dest+" "+keyFile+"; cat "+keyFile); got != "644\n644\n"+strings.TrimSpace(key) {
			t.Errorf("modes and key: %q", got)
		}
		res := moduletest.Result(m)
		if res["repo"] != stanza(keyFile) || res["dest"] != dest || res["key_filename"] != keyFile {
			t.Errorf("result %v", res)
		}
	})

	t.Run("apt's next update_cache sees the source and installs from it", func(t *testing.T) {
		d, err := h.CheckOnly(t, "apt", map[string]any{"update_cache": true, "cache_valid_time": 3600})
		if err != nil || !moduletest.HasChange(d, "apt:cache", "update") {
			t.Fatalf("apt update_cache after a new source: err=%v diff:\n%s", err, moduletest.Describe(d))
		}
		h.Timeline(t, "apt", map[string]any{"name": "gpuctl-deb822", "update_cache": true})
		if got := h.Run(t, "gpuctl-deb822"); got != "deb822 1.0" {
			t.Errorf("installed package prints %q", got)
		}
	})

	t.Run("inline key, then a key file on the host", func(t *testing.T) {
		d, m := h.TimelineModule(t, "deb822_repository", repo("signed_by", key))
		if !moduletest.HasChange(d, "file:"+dest, "content") || moduletest.HasChange(d, "file:"+keyFile, "") {
			t.Errorf("diff:\n%s", moduletest.Describe(d))
		}
		if got := h.Run(t, "cat "+dest); !strings.Contains(got, "Signed-By:\n    -----BEGIN PGP PUBLIC KEY BLOCK-----\n    .\n") {
			t.Errorf("%s:\n%s", dest, got)
		}
		if res := moduletest.Result(m); res["key_filename"] != nil {
			t.Errorf("key_filename %v, want none for an inline key", res["key_filename"])
		}
		// apt reads the inline key.
		if _, _, err := h.Apply(t, "apt", map[string]any{"name": "gpuctl-deb822", "state": "latest", "update_cache": true}); err != nil {
			t.Fatal(err)
		}
		_, m = h.TimelineModule(t, "deb822_repository", repo("signed_by", keyFile))
		if res := moduletest.Result(m); res["key_filename"] != keyFile || h.Run(t, "cat "+dest)+"\n" != stanza(keyFile) {
			t.Errorf("result %v, file %s", res, h.Run(t, "cat "+dest))
		}
	})

	t.Run("mode", func(t *testing.T) {
		d := h.Timeline(t, "deb822_repository", repo("signed_by", keyFile, "mode", "0600"))
		if len(d.Changes) != 1 || d.Changes[0].Field != "mode" || d.Changes[0].After != "0600" {
			t.Errorf("diff:\n%s", moduletest.Describe(d))
		}
		if got := h.Run(t, "stat -c %a "+dest); got != "600" {
			t.Errorf("mode %s", got)
		}
	})

	t.Run("unreachable key URL", func(t *testing.T) {
		bad := "http://127.0.0.1:1/gpg"
		// Check mode: known after apply, naming the URL.
		d, err := h.CheckOnly(t, "deb822_repository", repo("signed_by", bad))
		if err != nil || !strings.Contains(d.Unknown, "Could not fetch signed_by key") || !strings.Contains(d.Unknown, bad) {
			t.Errorf("check mode: err=%v unknown=%q", err, d.Unknown)
		}
		if _, _, err := h.Apply(t, "deb822_repository", repo("signed_by", bad)); err == nil {
			t.Error("apply with an unreachable key URL succeeded")
		}
	})

	t.Run("absent", func(t *testing.T) {
		d, m := h.TimelineModule(t, "deb822_repository", map[string]any{"name": "gpuctl Test", "state": "absent"})
		for _, r := range []string{"file:" + keyFile, "file:" + dest} {
			if !moduletest.HasChange(d, r, "") {
				t.Errorf("no change for %s:\n%s", r, moduletest.Describe(d))
			}
		}
		if got := h.Run(t, "ls /etc/apt/sources.list.d /etc/apt/keyrings"); strings.Contains(got, "gpuctl-test") {
			t.Errorf("left behind:\n%s", got)
		}
		res := moduletest.Result(m)
		if res["repo"] != nil || res["dest"] != dest || res["key_filename"] != "/etc/apt/keyrings/gpuctl-test.gpg" {
			t.Errorf("result %v", res)
		}
	})
}
