package node

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/modules/moduletest"
)

// fakeDeb is a package the local test repository serves.
type fakeDeb struct {
	Name, Version string
	Depends       string
	Files         map[string][]byte // absolute path → content (executables under /usr/bin)
	Raw           []byte            // a ready-made .deb instead (Name and Version name the file)
}

// testRepo is a signed apt repository built by the test with dpkg-deb,
// apt-ftparchive and gpg, served over HTTP on loopback: the same shape as
// pkgs.k8s.io (flat, suite "/") or download.docker.com (dists/SUITE/COMPONENT).
type testRepo struct {
	URL    string // as this machine reaches it
	Key    string // armoured public key
	KeyURL string
}

func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (apt-get install dpkg-dev apt-utils gnupg)", tool)
		}
	}
}

func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// newGPG makes a throwaway signing key. GNUPGHOME is kept short: gpg-agent's
// socket path must fit in 108 bytes.
func newGPG(t *testing.T) []string {
	t.Helper()
	home, err := os.MkdirTemp("", "gpg")
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"GNUPGHOME=" + home}
	t.Cleanup(func() {
		exec.Command("gpgconf", "--kill", "gpg-agent").Run()
		cmd := exec.Command("gpgconf", "--kill", "all")
		cmd.Env = append(os.Environ(), env...)
		cmd.Run()
		os.RemoveAll(home)
	})
	run(t, home, env, "gpg", "--batch", "--pinentry-mode", "loopback", "--passphrase", "", "--quick-gen-key", "gpuctl test repo <repo@gpuctl.test>", "ed25519", "sign", "1d")
	return env
}

// buildRepo builds the packages into dir/root/…; suite "/" makes a flat
// repository, anything else dists/SUITE/COMPONENT.
func buildRepo(t *testing.T, gpgEnv []string, debs []fakeDeb, suite, component string) (root string, key string) {
	t.Helper()
	needTools(t, "dpkg-deb", "apt-ftparchive", "gpg")
	root = t.TempDir()
	pool := root
	if suite != "/" {
		pool = filepath.Join(root, "pool")
	}
	os.MkdirAll(pool, 0o755)
	for _, d := range debs {
		if d.Raw != nil {
			os.WriteFile(filepath.Join(pool, fmt.Sprintf("%s_%s_amd64.deb", d.Name, d.Version)), d.Raw, 0o644)
			continue
		}
		src := filepath.Join(t.TempDir(), d.Name)
		os.MkdirAll(filepath.Join(src, "DEBIAN"), 0o755)
		control := fmt.Sprintf("Package: %s\nVersion: %s\nArchitecture: amd64\nMaintainer: gpuctl tests <t@gpuctl.test>\nDescription: test package %s\n", d.Name, d.Version, d.Name)
		if d.Depends != "" {
			control += "Depends: " + d.Depends + "\n"
		}
		os.WriteFile(filepath.Join(src, "DEBIAN", "control"), []byte(control), 0o644)
		for p, content := range d.Files {
			os.MkdirAll(filepath.Join(src, filepath.Dir(p)), 0o755)
			os.WriteFile(filepath.Join(src, p), content, 0o755)
		}
		run(t, "", nil, "dpkg-deb", "-Zgzip", "-z1", "--root-owner-group", "--build", src, filepath.Join(pool, fmt.Sprintf("%s_%s_amd64.deb", d.Name, d.Version)))
	}
	relDir := root
	if suite == "/" {
		run(t, root, nil, "sh", "-c", "apt-ftparchive packages . > Packages && gzip -k Packages && apt-ftparchive release . > Release")
	} else {
		bin := filepath.Join("dists", suite, component, "binary-amd64")
		os.MkdirAll(filepath.Join(root, bin), 0o755)
		run(t, root, nil, "sh", "-c", "apt-ftparchive packages pool > "+bin+"/Packages && gzip -k "+bin+"/Packages")
		relDir = filepath.Join(root, "dists", suite)
		run(t, relDir, nil, "sh", "-c", fmt.Sprintf("apt-ftparchive -o APT::FTPArchive::Release::Suite=%s -o APT::FTPArchive::Release::Codename=%s -o APT::FTPArchive::Release::Components=%s -o APT::FTPArchive::Release::Architectures=amd64 release . > Release", suite, suite, component))
	}
	run(t, relDir, gpgEnv, "gpg", "--batch", "--yes", "--clearsign", "--digest-algo", "SHA256", "-o", "InRelease", "Release")
	run(t, relDir, gpgEnv, "gpg", "--batch", "--yes", "-abs", "--digest-algo", "SHA256", "-o", "Release.gpg", "Release")
	key = run(t, root, gpgEnv, "gpg", "--armor", "--export")
	os.WriteFile(filepath.Join(root, "Release.key"), []byte(key), 0o644)
	os.WriteFile(filepath.Join(root, "gpg"), []byte(key), 0o644)
	return root, key
}

// serve serves dir on loopback. Hosts sharing this machine's network reach
// it at 127.0.0.1; QEMU VMs reach the machine's loopback at 10.0.2.2.
func serve(t *testing.T, dir string, h *moduletest.Remote) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.FileServer(http.Dir(dir)))
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	u := srv.URL + "/"
	if h != nil && h.TH.VM {
		u = strings.Replace(u, "127.0.0.1", "10.0.2.2", 1)
	}
	return u
}

// script is a tiny executable that prints a version, standing in for a
// real binary inside a fake package.
func script(out string) []byte {
	return []byte("#!/bin/sh\necho '" + out + "'\n")
}
