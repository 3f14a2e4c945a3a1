package ssh_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh/agent"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/conn/ssh"
	"github.com/gpuctl/gpuctl/conn/ssh/sshtest"
)

// freezingProxy forwards TCP to target until frozen, then silently drops
// everything without closing: a peer that vanished without a FIN or RST.
type freezingProxy struct {
	l      net.Listener
	frozen atomic.Bool
}

func newFreezingProxy(t *testing.T, target string) *freezingProxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &freezingProxy{l: l}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			t.Cleanup(func() { c.Close(); s.Close() })
			go p.pipe(c, s)
			go p.pipe(s, c)
		}
	}()
	return p
}

func (p *freezingProxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		if p.frozen.Load() {
			continue
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			return
		}
	}
}

func TestKeepAliveDetectsSilentPeer(t *testing.T) {
	srv := sshtest.Start(t)
	proxy := newFreezingProxy(t, srv.Addr())
	cfg, _ := shellUser(t, srv)
	cfg.Port = proxy.l.Addr().(*net.TCPAddr).Port
	// The proxy's port is not in known_hosts under that name.
	cfg.InsecureIgnoreHostKey = true
	cfg.KeepAliveInterval = 200 * time.Millisecond
	cfg.KeepAliveCountMax = 2
	c := dial(t, cfg)
	if _, err := c.Run(context.Background(), "true"); err != nil {
		t.Fatal(err)
	}
	proxy.frozen.Store(true)
	start := time.Now()
	_, err := c.Run(context.Background(), "true")
	if !errors.Is(err, conn.ErrConnLost) {
		t.Fatalf("err = %v, want ErrConnLost", err)
	}
	t.Logf("noticed after %s: %v", time.Since(start), err)
	if !strings.Contains(err.Error(), "stopped answering") || !strings.Contains(err.Error(), "gpuctl_ssh_keepalive_interval") {
		t.Errorf("the message does not say what happened or what to tune: %v", err)
	}
	if _, err := c.Stat(context.Background(), "/"); !errors.Is(err, conn.ErrConnLost) {
		t.Errorf("stat after loss: %v", err)
	}
}

func TestSSHAgent(t *testing.T) {
	srv := sshtest.Start(t)
	key, err := os.ReadFile(srv.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := parseRawKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyring := agent.NewKeyring()
	if err := keyring.Add(agent.AddedKey{PrivateKey: priv}); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { agent.ServeAgent(keyring, c); c.Close() }()
		}
	}()
	t.Setenv("SSH_AUTH_SOCK", sock)
	t.Setenv("HOME", t.TempDir()) // no default identities to fall back on

	cfg := config(srv, "root")
	cfg.KeyFiles = nil
	cfg.NoAgent = false
	c := dial(t, cfg)
	if out, err := conn.Output(context.Background(), c, "echo via-agent"); err != nil || out != "via-agent" {
		t.Fatalf("%q %v", out, err)
	}

	cfg.NoAgent = true
	if _, err := ssh.Dial(context.Background(), cfg); err == nil {
		t.Fatal("dial without agent or keys succeeded")
	}
}

func parseRawKey(pemBytes []byte) (ed25519.PrivateKey, error) {
	k, err := gosshParseRaw(pemBytes)
	if err != nil {
		return nil, err
	}
	p, ok := k.(*ed25519.PrivateKey)
	if !ok {
		return nil, errors.New("not ed25519")
	}
	return *p, nil
}

func TestSSHConfigFile(t *testing.T) {
	srv := sshtest.Start(t)
	cfgFile := filepath.Join(t.TempDir(), "config")
	os.WriteFile(cfgFile, []byte("Host gpu-box\n  HostName 127.0.0.1\n  Port "+itoa(srv.Port)+
		"\n  User root\n  IdentityFile "+srv.ClientKey+"\n"), 0o644)
	c := dial(t, ssh.Config{
		Host: "gpu-box", SSHConfigFile: cfgFile, NoAgent: true,
		KnownHostsFiles: []string{srv.KnownHosts}, NoUserKnownHosts: true,
	})
	if c.String() != "root@127.0.0.1:"+itoa(srv.Port) {
		t.Errorf("resolved to %s", c)
	}
	if out, err := conn.Output(context.Background(), c, "id -un"); err != nil || out != "root" {
		t.Fatalf("%q %v", out, err)
	}
}

func TestClosedConn(t *testing.T) {
	srv := sshtest.Start(t)
	c, err := ssh.Dial(context.Background(), config(srv, "root"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	if _, err := c.Run(context.Background(), "true"); err == nil || errors.Is(err, conn.ErrConnLost) {
		t.Errorf("run on a closed connection: %v", err)
	}
}
