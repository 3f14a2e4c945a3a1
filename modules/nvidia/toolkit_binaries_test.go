package nvidia

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/moduletest"
)

// toolkitBinDir writes the three toolkit binaries as an air-gapped
// controller holds them: executables (this machine's /bin/true) carrying the
// version string the toolkit's build links in.
func toolkitBinDir(t *testing.T, version string) string {
	t.Helper()
	exe, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, n := range toolkitBinaries {
		data := append(append([]byte{}, exe...), []byte("\x00"+n+" version "+version+"\x00")...)
		if err := os.WriteFile(filepath.Join(dir, n), data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestToolkitBinariesValidate(t *testing.T) {
	dir := toolkitBinDir(t, "1.18.0")
	for _, args := range []map[string]any{
		{"source": "binaries"},                     // no directory
		{"binaries_dir": dir},                      // a directory, but apt
		{"source": "tarball", "binaries_dir": dir}, // unknown source
	} {
		if _, err := newModuleErr(args); err == nil {
			t.Errorf("%v: want a validation error", args)
		}
	}
	if _, err := newModuleErr(map[string]any{"source": "binaries", "binaries_dir": dir}); err != nil {
		t.Errorf("source: binaries with binaries_dir: %v", err)
	}
}

// TestToolkitBinariesWrongVersion: binaries of another release are refused
// in check, before the host is touched.
func TestToolkitBinariesWrongVersion(t *testing.T) {
	h := moduletest.Local()
	m := moduletest.New(t, "nvidia_container_toolkit", map[string]any{
		"when_no_gpu": "install", "source": "binaries", "binaries_dir": toolkitBinDir(t, "1.17.8"), "configure_containerd": false,
	})
	_, err := m.Check(context.Background(), h)
	if err == nil || !strings.Contains(err.Error(), "does not carry version 1.18.0") {
		t.Fatalf("want a version error, got %v", err)
	}
}

// TestToolkitBinariesOnRealHost: on a real Debian 12 host over SSH, with no
// repository reachable, source: binaries installs the three binaries into
// /usr/bin, and then changes nothing; no apt source or package appears.
func TestToolkitBinariesOnRealHost(t *testing.T) {
	dir := toolkitBinDir(t, "1.18.0")
	h := moduletest.Start(t, 1)[0]
	args := map[string]any{"when_no_gpu": "install", "source": "binaries", "binaries_dir": dir, "configure_containerd": false}
	h.Timeline(t, "nvidia_container_toolkit", args)
	for _, n := range toolkitBinaries {
		want, _ := os.ReadFile(filepath.Join(dir, n))
		if got := h.TH.Run(t, "sha256sum /usr/bin/"+n+" | cut -d' ' -f1; test -x /usr/bin/"+n+" && echo executable"); !strings.Contains(got, sha(want)) || !strings.Contains(got, "executable") {
			t.Errorf("/usr/bin/%s on the host: %q", n, got)
		}
	}
	if out := h.TH.Run(t, "ls /etc/apt/sources.list.d/; dpkg-query -W nvidia-container-toolkit 2>&1 || true"); strings.Contains(out, "nvidia-container-toolkit.list") || strings.Contains(out, "1.18") {
		t.Errorf("binaries must not touch apt:\n%s", out)
	}
	// A changed binary on the controller is an update of that file only.
	if err := os.WriteFile(filepath.Join(dir, "nvidia-ctk"), append(mustRead(t, filepath.Join(dir, "nvidia-ctk")), 'x'), 0o755); err != nil {
		t.Fatal(err)
	}
	d, err := modules.CheckOnly(context.Background(), moduletest.New(t, "nvidia_container_toolkit", args), h)
	if err != nil || len(d.Changes) != 1 || d.Changes[0].Resource != "file:/usr/bin/nvidia-ctk" {
		t.Fatalf("after changing nvidia-ctk on the controller: %+v %v", d.Changes, err)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
