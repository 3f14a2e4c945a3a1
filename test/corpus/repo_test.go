package corpus

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// localRepo builds a signed apt repository (suite "corpus", component "main") of tiny fake
// packages and serves it on loopback, which the nspawn test hosts share: it stands in for a
// vendor's repository (repo.mongodb.org, repo.zabbix.com) that the offline hosts cannot reach.
// Wrappers point a role at it with {{ corpus_repo }}; the signing key is {{ corpus_repo }}key.asc.
func localRepo(t *testing.T, pkgs map[string]string) string {
	t.Helper()
	for _, tool := range []string{"dpkg-deb", "apt-ftparchive", "gpg"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed (apt-get install dpkg-dev apt-utils gnupg)", tool)
		}
	}
	// gpg-agent's socket path must fit in 108 bytes: keep GNUPGHOME short.
	home, err := os.MkdirTemp("", "gpg")
	if err != nil {
		t.Fatal(err)
	}
	gpgEnv := []string{"GNUPGHOME=" + home}
	t.Cleanup(func() {
		cmd := exec.Command("gpgconf", "--kill", "all")
		cmd.Env = append(os.Environ(), gpgEnv...)
		_ = cmd.Run()
		os.RemoveAll(home)
	})
	sh(t, home, gpgEnv, "gpg --batch --pinentry-mode loopback --passphrase '' --quick-gen-key 'gpuctl corpus repo <corpus@gpuctl.test>' ed25519 sign 1d")

	root := t.TempDir()
	pool := filepath.Join(root, "pool")
	bin := filepath.Join(root, "dists", "corpus", "main", "binary-amd64")
	for _, d := range []string{pool, bin} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	names := make([]string, 0, len(pkgs))
	for n := range pkgs {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		src := filepath.Join(t.TempDir(), name)
		control := fmt.Sprintf("Package: %s\nVersion: %s\nArchitecture: all\nMaintainer: gpuctl corpus <corpus@gpuctl.test>\nDescription: stand-in for %s in the corpus test\n", name, pkgs[name], name)
		doc := filepath.Join(src, "usr", "share", "doc", name)
		if err := os.MkdirAll(filepath.Join(src, "DEBIAN"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(doc, 0o755); err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(src, "DEBIAN", "control"), control)
		write(t, filepath.Join(doc, "README"), "fake "+name+" "+pkgs[name]+"\n")
		sh(t, "", nil, fmt.Sprintf("dpkg-deb -Zgzip -z1 --root-owner-group --build %s %s/%s_%s_all.deb", src, pool, name, pkgs[name]))
	}
	sh(t, root, nil, "apt-ftparchive packages pool > dists/corpus/main/binary-amd64/Packages && gzip -k dists/corpus/main/binary-amd64/Packages")
	rel := filepath.Join(root, "dists", "corpus")
	sh(t, rel, nil, "apt-ftparchive -o APT::FTPArchive::Release::Suite=corpus -o APT::FTPArchive::Release::Codename=corpus -o APT::FTPArchive::Release::Components=main -o APT::FTPArchive::Release::Architectures='amd64 all' release . > Release")
	sh(t, rel, gpgEnv, "gpg --batch --yes --clearsign --digest-algo SHA256 -o InRelease Release && gpg --batch --yes -abs --digest-algo SHA256 -o Release.gpg Release")
	sh(t, root, gpgEnv, "gpg --armor --export > key.asc")

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.FileServer(http.Dir(root)))
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL + "/"
}

func sh(t *testing.T, dir string, env []string, script string) {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	cmd.Dir, cmd.Env = dir, append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", script, err, strings.TrimSpace(string(out)))
	}
}

func write(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}
