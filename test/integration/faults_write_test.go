package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gpuctl/gpuctl/internal/testhosts"
)

// Faults in the middle of an upload. Every case starts from /opt/big.bin
// holding "old", uploads 32 MiB over it through a proxy paced at 4 MiB/s
// (so the fault lands mid-upload), breaks something once the temporary
// file shows up on the host, and then checks that the target still holds
// "old" (never a truncated mix), and that a re-run writes it, leaves no
// temporary file, and a second re-run changes nothing.

const bigSize = 32 << 20

// faultRig is one host, reached directly and through a proxy, with a
// 32 MiB file to upload.
type faultRig struct {
	h        testhosts.Host
	proxy    *linkProxy
	dir      string
	direct   string // inventory straight to sshd
	proxied  string // inventory through the proxy
	bigSum   string
	playbook string
}

func newFaultRig(t *testing.T) *faultRig {
	t.Helper()
	h := testhosts.Start(t, 1)[0]
	r := &faultRig{h: h, dir: t.TempDir()}
	r.proxy = newLinkProxy(t, h)
	ka := map[string]string{"gpuctl_ssh_keepalive_interval": "2", "gpuctl_ssh_keepalive_count_max": "3"}
	r.direct = inventory(t, r.dir, []testhosts.Host{h}, nil)
	ph := r.proxy.host(t, h)
	r.proxied = inventory(t, t.TempDir(), []testhosts.Host{ph}, map[string]map[string]string{h.Name: ka})
	big := make([]byte, bigSize)
	rand.Read(big)
	r.bigSum = fmt.Sprintf("%x", sha256.Sum256(big))
	bigPath := writeFile(t, r.dir, "big.bin", string(big))
	r.playbook = writeFile(t, r.dir, "upload.yaml", fmt.Sprintf(`
- hosts: all
  tasks:
    - copy: {dest: /opt/before, content: "1\n"}
    - name: big upload
      copy: {src: %s, dest: /opt/big.bin}
`, bigPath))
	return r
}

// background is a gpuctl run in progress.
type background struct {
	cmd  *exec.Cmd
	out  *lockedBuf
	done chan error
}

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startRun(t *testing.T, dir string, args ...string) *background {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	b := &background{cmd: gpuctlCmd(ctx, dir, args...), out: &lockedBuf{}, done: make(chan error, 1)}
	b.cmd.Stdout, b.cmd.Stderr = b.out, b.out
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { b.done <- b.cmd.Wait() }()
	return b
}

// wait returns the run's exit code and output.
func (b *background) wait(t *testing.T) (int, string) {
	t.Helper()
	select {
	case <-b.done:
	case <-time.After(2 * time.Minute):
		b.cmd.Process.Kill()
		<-b.done
		t.Fatalf("run did not end:\n%s", b.out)
	}
	return b.cmd.ProcessState.ExitCode(), b.out.String()
}

// temps lists gpuctl's temporary files under dir on the host.
func temps(t *testing.T, h testhosts.Host, dir string) string {
	t.Helper()
	return h.Run(t, "find "+dir+" -xdev -name '.*.gpuctl-*' -printf '%f %s\\n' | sort")
}

// waitUpload waits until the upload to dest is under way: its temporary
// file exists on the host.
func waitUpload(t *testing.T, h testhosts.Host, dest string) {
	t.Helper()
	dir, base := dest[:strings.LastIndex(dest, "/")], dest[strings.LastIndex(dest, "/")+1:]
	waitFor(t, 60*time.Second, func() bool {
		out, _ := h.Output(testhosts.UserRoot, "find "+dir+" -maxdepth 1 -name '."+base+".gpuctl-*' -size +1k | head -1")
		return strings.TrimSpace(out) != ""
	})
}

// converges re-runs the playbook directly and checks the host is whole.
func (r *faultRig) converges(t *testing.T) {
	t.Helper()
	res := gpuctl(t, nil, r.dir, "run", r.playbook, "-i", r.direct)
	if res.code != 0 {
		t.Fatalf("re-run: %s", res)
	}
	if got := r.h.Run(t, "sha256sum /opt/big.bin | cut -d' ' -f1"); got != r.bigSum {
		t.Errorf("after re-run /opt/big.bin has sha256 %s, want %s", got, r.bigSum)
	}
	if left := temps(t, r.h, "/opt"); left != "" {
		t.Errorf("re-run left temporary files: %s", left)
	}
	res = gpuctl(t, nil, r.dir, "run", r.playbook, "-i", r.direct, "--detailed-exitcode")
	if res.code != 0 {
		t.Errorf("second re-run is not a no-op: %s", res)
	}
}

// reset puts the host back to the starting point of a case.
func (r *faultRig) reset(t *testing.T) {
	t.Helper()
	r.h.Run(t, "rm -rf /opt/* /opt/.[!.]*; printf old > /opt/big.bin")
	r.proxy.heal()
	r.proxy.setRate(4 << 20)
}

func (r *faultRig) stillOld(t *testing.T) {
	t.Helper()
	if got := r.h.Run(t, "cat /opt/big.bin | head -c 100"); got != "old" {
		t.Errorf("target after the fault starts with %q, want the old contents", got)
	}
}

func TestFaultsMidUpload(t *testing.T) {
	r := newFaultRig(t)

	t.Run("controller SIGKILL", func(t *testing.T) {
		r.reset(t)
		b := startRun(t, r.dir, "run", r.playbook, "-i", r.proxied)
		waitUpload(t, r.h, "/opt/big.bin")
		b.cmd.Process.Signal(syscall.SIGKILL)
		_, out := b.wait(t)
		t.Logf("killed run's output:\n%s", out)
		r.stillOld(t)
		t.Logf("left on the host: %q", temps(t, r.h, "/opt"))
		r.converges(t)
	})

	t.Run("sshd killed", func(t *testing.T) {
		r.reset(t)
		b := startRun(t, r.dir, "run", r.playbook, "-i", r.proxied)
		waitUpload(t, r.h, "/opt/big.bin")
		// Every sshd: the listener and each session's; this command's own
		// session dies with them. systemd starts the listener again.
		r.h.Output(testhosts.UserRoot, "pkill -KILL -x sshd")
		code, out := b.wait(t)
		t.Logf("run's output:\n%s", out)
		if code == 0 {
			t.Error("run exited 0 after sshd was killed mid-upload")
		}
		for _, want := range []string{r.h.Name, "big upload", "/opt/big.bin"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q", want)
			}
		}
		waitFor(t, 30*time.Second, func() bool { _, err := r.h.Output(testhosts.UserRoot, "true"); return err == nil })
		r.stillOld(t)
		t.Logf("left on the host: %q", temps(t, r.h, "/opt"))
		r.converges(t)
	})

	t.Run("link cut", func(t *testing.T) {
		r.reset(t)
		b := startRun(t, r.dir, "run", r.playbook, "-i", r.proxied)
		waitUpload(t, r.h, "/opt/big.bin")
		r.proxy.cutLink()
		cut := time.Now()
		code, out := b.wait(t)
		took := time.Since(cut)
		t.Logf("run ended %s after the cut:\n%s", took, out)
		if code == 0 {
			t.Error("run exited 0 with the link cut mid-upload")
		}
		// After the keepalives (6 s) gpuctl dials the host for up to
		// gpuctl_lost_probe_timeout (30 s) to tell a reboot from a cut.
		for _, want := range []string{r.h.Name, "big upload", "stopped answering", "did not answer for 30s"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q", want)
			}
		}
		if took > 60*time.Second {
			t.Errorf("run took %s after the cut; keepalive budget is 6s, the probe's 30s", took)
		}
		r.stillOld(t)
		t.Logf("left on the host: %q", temps(t, r.h, "/opt"))
		r.proxy.heal()
		r.converges(t)
	})

	t.Run("target changed during upload", func(t *testing.T) {
		r.reset(t)
		b := startRun(t, r.dir, "run", r.playbook, "-i", r.proxied)
		waitUpload(t, r.h, "/opt/big.bin")
		r.h.Run(t, "printf theirs > /opt/big.bin")
		code, out := b.wait(t)
		t.Logf("run's output:\n%s", out)
		if code == 0 {
			t.Error("run exited 0 after replacing a file changed since check")
		}
		for _, want := range []string{r.h.Name, "big upload", "/opt/big.bin", "changed on the host after this task checked it"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q", want)
			}
		}
		if got := r.h.Run(t, "cat /opt/big.bin | head -c 100"); got != "theirs" {
			t.Errorf("target holds %q, want the other writer's contents", got)
		}
		if left := temps(t, r.h, "/opt"); left != "" {
			t.Errorf("refused write left %s", left)
		}
		r.converges(t)
	})
}
