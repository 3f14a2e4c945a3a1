package nvidia

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gpuctl/gpuctl/modules/moduletest"
)

// signedRepo is a flat apt repository with fake toolkit packages at one
// version, signed with a throwaway key and served on loopback, standing in
// for NVIDIA's repository, which cannot be reached from tests.
type signedRepo struct {
	URL  string // with $(ARCH), as apt sources use it
	Key  string // ASCII-armoured public key
	arch string
}

func needTools(t *testing.T, tools ...string) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: needs " + strings.Join(tools, ", "))
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
}

func sh(t *testing.T, dir string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// newGPGKey makes a signing key in its own GNUPGHOME and returns the home
// and the armoured public key.
func newGPGKey(t *testing.T) (string, string) {
	// Short: gpg-agent's socket path must fit in 108 bytes.
	home, err := os.MkdirTemp("", "gpg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		exec.Command("gpgconf", "--homedir", home, "--kill", "all").Run()
		os.RemoveAll(home)
	})
	sh(t, home, "gpg", "--batch", "--homedir", home, "--passphrase", "", "--quick-gen-key", "gpuctl test repository <test@gpuctl.invalid>", "ed25519", "sign", "never")
	return home, sh(t, home, "gpg", "--batch", "--homedir", home, "--armor", "--export")
}

func newSignedRepo(t *testing.T, version string) *signedRepo {
	needTools(t, "gpg", "dpkg-deb", "dpkg", "apt-get")
	arch := strings.TrimSpace(sh(t, "", "dpkg", "--print-architecture"))
	home, key := newGPGKey(t)
	root := t.TempDir()
	dir := filepath.Join(root, "deb", arch)
	os.MkdirAll(dir, 0o755)
	var packages strings.Builder
	for _, pkg := range toolkitPackages {
		build := filepath.Join(t.TempDir(), pkg)
		os.MkdirAll(filepath.Join(build, "DEBIAN"), 0o755)
		if pkg == "nvidia-container-toolkit" {
			// A stand-in runtime: runc under NVIDIA's name, so containerd
			// can really start containers through the nvidia runtime.
			os.MkdirAll(filepath.Join(build, "usr", "bin"), 0o755)
			os.WriteFile(filepath.Join(build, "usr", "bin", "nvidia-container-runtime"), []byte("#!/bin/sh\nexec runc \"$@\"\n"), 0o755)
		}
		control := fmt.Sprintf("Package: %s\nVersion: %s\nArchitecture: %s\nMaintainer: gpuctl tests <test@gpuctl.invalid>\nDescription: stand-in for NVIDIA's %s\n", pkg, version, arch, pkg)
		os.WriteFile(filepath.Join(build, "DEBIAN", "control"), []byte(control), 0o644)
		deb := fmt.Sprintf("%s_%s_%s.deb", pkg, version, arch)
		sh(t, "", "dpkg-deb", "--root-owner-group", "--build", build, filepath.Join(dir, deb))
		data, _ := os.ReadFile(filepath.Join(dir, deb))
		fmt.Fprintf(&packages, "%sFilename: ./%s\nSize: %d\nSHA256: %x\n\n", control, deb, len(data), sha256.Sum256([]byte(data)))
	}
	os.WriteFile(filepath.Join(dir, "Packages"), []byte(packages.String()), 0o644)
	release := fmt.Sprintf("Origin: gpuctl-test\nLabel: gpuctl-test\nArchitectures: %s\nDate: %s\nSHA256:\n %x %d Packages\n",
		arch, time.Now().UTC().Format("Mon, 02 Jan 2006 15:04:05 UTC"), sha256.Sum256([]byte(packages.String())), packages.Len())
	os.WriteFile(filepath.Join(dir, "Release"), []byte(release), 0o644)
	sh(t, dir, "gpg", "--batch", "--homedir", home, "--clearsign", "-o", "InRelease", "Release")
	srv := httptest.NewServer(http.FileServer(http.Dir(root)))
	t.Cleanup(srv.Close)
	return &signedRepo{URL: srv.URL + "/deb/$(ARCH)", Key: key, arch: arch}
}

// privateApt returns -o options that keep apt's lists, cache and status
// in a temporary folder, so the test never touches the machine's apt.
func privateApt(t *testing.T) []string {
	d := t.TempDir()
	for _, sub := range []string{"lists/partial", "cache/archives/partial", "trusted.d", "prefs.d"} {
		os.MkdirAll(filepath.Join(d, sub), 0o755)
	}
	os.WriteFile(filepath.Join(d, "status"), nil, 0o644)
	return []string{
		"Dir::State::Lists=" + filepath.Join(d, "lists"),
		"Dir::Cache=" + filepath.Join(d, "cache"),
		"Dir::State::status=" + filepath.Join(d, "status"),
		"Dir::Etc::TrustedParts=" + filepath.Join(d, "trusted.d"),
		"Dir::Etc::PreferencesParts=" + filepath.Join(d, "prefs.d"),
		"Debug::NoLocking=true",
		"APT::Sandbox::User=root",
	}
}

func repoArgs(t *testing.T, repo *signedRepo, key string, apt []string) map[string]any {
	d := t.TempDir()
	opts := make([]any, len(apt))
	for i, o := range apt {
		opts[i] = o
	}
	return map[string]any{
		"when_no_gpu": "install", "install": false, "configure_containerd": false,
		"repo_url": repo.URL, "key": key, "apt_options": opts,
		"keyring":      filepath.Join(d, "keyrings", "nvidia-container-toolkit.asc"),
		"sources_file": filepath.Join(d, "sources", "nvidia-container-toolkit.list"),
	}
}

// TestToolkitRepositorySigned writes the repository and key with the
// module, and apt accepts the signed repository and offers the pinned
// version from it.
func TestToolkitRepositorySigned(t *testing.T) {
	repo := newSignedRepo(t, "1.18.0-1")
	apt := privateApt(t)
	args := repoArgs(t, repo, repo.Key, apt)
	d := moduletest.Timeline(t, moduletest.Local(), filepath.Dir(filepath.Dir(args["keyring"].(string))), "nvidia_container_toolkit", args)
	if len(d.Changes) != 2 {
		t.Errorf("want the keyring and the source list, got %+v", d.Changes)
	}
	src, _ := os.ReadFile(args["sources_file"].(string))
	t.Logf("source list:\n%s", src)
	cmd := []string{"-o", "Dir::Etc::sourcelist=" + args["sources_file"].(string), "-o", "Dir::Etc::sourceparts=-"}
	for _, o := range apt {
		cmd = append(cmd, "-o", o)
	}
	out := sh(t, "", "apt-cache", append(cmd, "policy", "nvidia-container-toolkit")...)
	if !strings.Contains(out, "Candidate: 1.18.0-1") {
		t.Fatalf("apt offers no 1.18.0-1 from the repository:\n%s", out)
	}
	t.Logf("apt-cache policy:\n%s", out)
}

// TestToolkitRepositoryWrongKey: a key that did not sign the repository
// fails the task at apt-get update, with apt's reason.
func TestToolkitRepositoryWrongKey(t *testing.T) {
	repo := newSignedRepo(t, "1.18.0-1")
	_, other := newGPGKey(t)
	args := repoArgs(t, repo, other, privateApt(t))
	ctx := context.Background()
	h := moduletest.Local()
	m := moduletest.New(t, "nvidia_container_toolkit", args)
	d, err := m.Check(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	err = m.Apply(ctx, h, d)
	if err == nil || !strings.Contains(err.Error(), "apt-get update for the toolkit repository") {
		t.Fatalf("want apt to refuse the repository, got %v", err)
	}
	if !strings.Contains(err.Error(), "NO_PUBKEY") && !strings.Contains(err.Error(), "not signed") {
		t.Errorf("error does not carry apt's reason: %v", err)
	}
	t.Log(err)
}

func TestToolkitValidate(t *testing.T) {
	for _, args := range []map[string]any{
		{"key": "not a key"},
		{"repo_url": "ftp://example.com/x"},
		{"keyring": "relative/path"},
		{"version": "1.18.0-1; rm -rf /"},
	} {
		if _, err := newModuleErr(args); err == nil {
			t.Errorf("%v: want a validation error", args)
		}
	}
}
