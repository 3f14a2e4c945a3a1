package node

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules/moduletest"
	"github.com/gpuctl/gpuctl/plan"
)

// TestAptRepositoryAndPackages runs apt_repository and apt against a real
// Debian 12 host and a signed repository served on loopback: add the
// repository (key inline), install a pinned version and hold it, move the
// pin (the held package follows), remove, and refuse a wrong key.
func TestAptRepositoryAndPackages(t *testing.T) {
	gpgEnv := newGPG(t)
	dir, key := buildRepo(t, gpgEnv, []fakeDeb{
		{Name: "gpuctl-hello", Version: "1.0-1", Depends: "gpuctl-dep", Files: map[string][]byte{"/usr/bin/gpuctl-hello": script("hello 1.0")}},
		{Name: "gpuctl-hello", Version: "2.0-1", Depends: "gpuctl-dep", Files: map[string][]byte{"/usr/bin/gpuctl-hello": script("hello 2.0")}},
		{Name: "gpuctl-dep", Version: "0.1-1"},
	}, "/", "")
	h := moduletest.Start(t, 1)[0]
	url := serve(t, dir, h)
	repo := map[string]any{"name": "gpuctl-test", "uris": url, "suites": "/", "key": key}

	t.Run("repository", func(t *testing.T) {
		// A hand-made list for the same URI, as upstream instructions leave it.
		h.TH.Run(t, "echo 'deb [signed-by=/etc/apt/keyrings/old.gpg] "+url+" /' > /etc/apt/sources.list.d/old-test.list")
		d := h.Timeline(t, "apt_repository", repo)
		for _, r := range []string{"file:/etc/apt/keyrings/gpuctl-test.asc", "file:/etc/apt/sources.list.d/gpuctl-test.sources", "file:/etc/apt/sources.list.d/old-test.list", "apt:cache"} {
			if !moduletest.HasChange(d, r, "") {
				t.Errorf("no change for %s", r)
			}
		}
		if out := h.TH.Run(t, "apt-cache policy gpuctl-hello"); !strings.Contains(out, "2.0-1") || !strings.Contains(out, strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/")) {
			t.Fatalf("repository not in use:\n%s", out)
		}
	})

	t.Run("install pinned and held", func(t *testing.T) {
		args := map[string]any{"name": "gpuctl-hello=1.0-*", "hold": true}
		d := h.Timeline(t, "apt", args)
		want := []plan.Change{
			{Resource: "package:gpuctl-dep", Action: plan.Create, Field: "version", After: "0.1-1"},
			{Resource: "package:gpuctl-hello", Action: plan.Create, Field: "version", After: "1.0-1"},
			{Resource: "package:gpuctl-hello", Action: plan.Update, Field: "hold", Before: "false", After: "true"},
		}
		for _, w := range want {
			found := false
			for _, c := range d.Changes {
				if c.Resource == w.Resource && c.Action == w.Action && c.Field == w.Field && c.After == w.After && c.Before == w.Before {
					found = true
				}
			}
			if !found {
				t.Errorf("check mode did not predict %+v", w)
			}
		}
		if out := h.TH.Run(t, "gpuctl-hello; apt-mark showhold"); out != "hello 1.0\ngpuctl-hello" {
			t.Fatalf("got %q", out)
		}
	})

	t.Run("move the pin of a held package", func(t *testing.T) {
		d := h.Timeline(t, "apt", map[string]any{"name": "gpuctl-hello=2.0-1", "hold": true})
		if len(d.Changes) != 1 || d.Changes[0].Before != "1.0-1" || d.Changes[0].After != "2.0-1" {
			t.Fatalf("diff %s", moduletest.Describe(d))
		}
		h.NoChange(t, "apt", map[string]any{"name": "gpuctl-hello", "state": "present"})
		h.NoChange(t, "apt", map[string]any{"name": "gpuctl-hello", "state": "latest"})
	})

	t.Run("update_cache honours cache_valid_time", func(t *testing.T) {
		h.NoChange(t, "apt", map[string]any{"update_cache": true, "cache_valid_time": "1h"})
		h.TH.Run(t, "touch -d '2 hours ago' "+updateStamp)
		h.Timeline(t, "apt", map[string]any{"update_cache": true, "cache_valid_time": "1h"})
	})

	t.Run("remove", func(t *testing.T) {
		d := h.Timeline(t, "apt", map[string]any{"name": []any{"gpuctl-hello"}, "state": "absent", "purge": true})
		if !moduletest.HasChange(d, "package:gpuctl-hello", "") || d.Changes[0].Action != plan.Delete {
			t.Fatalf("diff %s", moduletest.Describe(d))
		}
	})

	t.Run("waits for the dpkg lock", func(t *testing.T) {
		// Hold dpkg's frontend lock the way dpkg does (an fcntl write lock),
		// as unattended-upgrades would, until the module says it waits (so a
		// slow machine can't let the lock go before apt gets there).
		holdDpkgLock(t, h)
		released := make(chan struct{})
		go func() {
			defer close(released)
			for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
				if strings.Contains(h.LogText(), "waiting for the apt/dpkg lock") {
					break
				}
			}
			releaseDpkgLock(t, h)
		}()
		start := time.Now()
		if _, _, err := h.Apply(t, "apt", map[string]any{"name": "gpuctl-dep", "state": "absent", "lock_timeout": 60}); err != nil {
			t.Fatal(err)
		}
		<-released
		waited := time.Since(start)
		if !strings.Contains(h.LogText(), "waiting for the apt/dpkg lock") || !strings.Contains(h.LogText(), "perl") {
			t.Fatalf("no waiting message; log:\n%s", h.LogText())
		}
		t.Logf("waited %s; log: %s", waited.Round(time.Millisecond), strings.TrimSpace(h.LogText()))
	})

	t.Run("lock timeout names the holder", func(t *testing.T) {
		holdDpkgLock(t, h)
		_, _, err := h.Apply(t, "apt", map[string]any{"name": "gpuctl-dep", "lock_timeout": "2s"})
		releaseDpkgLock(t, h)
		if err == nil || !strings.Contains(err.Error(), "still held by process") {
			t.Fatalf("err = %v", err)
		}
		t.Log(err)
	})

	t.Run("wrong key is refused", func(t *testing.T) {
		// A binary key in a file on the controller this time (key_file, .gpg).
		otherEnv := newGPG(t)
		buildRepo(t, otherEnv, nil, "/", "")
		keyFile := t.TempDir() + "/other.gpg"
		run(t, "", otherEnv, "sh", "-c", "gpg --export > "+keyFile)
		d, _, err := h.Apply(t, "apt_repository", map[string]any{"name": "gpuctl-test", "uris": url, "suites": "/", "key_file": keyFile})
		if err == nil || !strings.Contains(err.Error(), "NO_PUBKEY") {
			t.Fatalf("err = %v", err)
		}
		if !moduletest.HasChange(d, "file:/etc/apt/keyrings/gpuctl-test.gpg", "content") || !moduletest.HasChange(d, "file:/etc/apt/keyrings/gpuctl-test.asc", "") {
			t.Fatalf("binary key should replace the armoured one:\n%s", moduletest.Describe(d))
		}
		if src := h.TH.Run(t, "grep Signed-By /etc/apt/sources.list.d/gpuctl-test.sources"); src != "Signed-By: /etc/apt/keyrings/gpuctl-test.gpg" {
			t.Fatal(src)
		}
		t.Log(err)
	})

	t.Run("deb file", func(t *testing.T) {
		deb, err := os.ReadFile(dir + "/gpuctl-dep_0.1-1_amd64.deb")
		if err != nil {
			t.Fatal(err)
		}
		h.TH.Run(t, "apt-get -q -y remove gpuctl-dep >/dev/null 2>&1 || true")
		if err := h.C.WriteFile(context.Background(), "/root/gpuctl-dep_0.1-1_amd64.deb", deb, conn.FileAttrs{Mode: 0o644}); err != nil {
			t.Fatal(err)
		}
		d := h.Timeline(t, "apt", map[string]any{"deb": "/root/gpuctl-dep_0.1-1_amd64.deb"})
		if !moduletest.HasChange(d, "package:gpuctl-dep", "version") {
			t.Fatal(moduletest.Describe(d))
		}
	})

	t.Run("absent", func(t *testing.T) {
		d := h.Timeline(t, "apt_repository", map[string]any{"name": "gpuctl-test", "state": "absent"})
		if !moduletest.HasChange(d, "file:/etc/apt/sources.list.d/gpuctl-test.sources", "") {
			t.Fatal(moduletest.Describe(d))
		}
	})
}

// dpkgLockHolder takes dpkg's frontend lock as dpkg does (an fcntl write
// lock) and keeps it until /run/gpuctl-release-dpkg appears (at most a
// minute, so a failed test leaves no holder behind).
const dpkgLockHolder = `rm -f /run/gpuctl-release-dpkg; perl -e 'use Fcntl; ` +
	`open(my $f, ">>", "/var/lib/dpkg/lock-frontend") or die; ` +
	`my $s = pack("s s x4 q q l x4", F_WRLCK, 0, 0, 0, 0); fcntl($f, F_SETLKW, $s) or die "lock: $!"; ` +
	`open(my $m, ">", "/run/gpuctl-dpkg-held"); close($m); ` +
	`for (1..300) { last if -e "/run/gpuctl-release-dpkg"; select(undef, undef, undef, 0.2) }'; rm -f /run/gpuctl-dpkg-held`

// holdDpkgLock starts dpkgLockHolder and returns once it holds the lock.
func holdDpkgLock(t *testing.T, h *moduletest.Remote) {
	t.Helper()
	h.TH.Run(t, "rm -f /run/gpuctl-dpkg-held")
	go h.TH.Output("root", dpkgLockHolder)
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(h.TH.Run(t, "test -e /run/gpuctl-dpkg-held && echo held || true"), "held"); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("dpkg lock holder did not start")
		}
	}
}

// releaseDpkgLock ends the holder and waits until the lock is free. It may
// run in a goroutine, so it reports with t.Error only.
func releaseDpkgLock(t *testing.T, h *moduletest.Remote) {
	if _, err := h.TH.Output("root", "touch /run/gpuctl-release-dpkg"); err != nil {
		t.Error(err)
		return
	}
	held := func() bool {
		out, err := h.TH.Output("root", "test -e /run/gpuctl-dpkg-held && echo held || true")
		return err == nil && strings.Contains(out, "held")
	}
	for deadline := time.Now().Add(30 * time.Second); held(); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Error("dpkg lock holder did not end")
			return
		}
	}
}
