package ssh_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gpuctl/gpuctl/conn/ssh"
	"github.com/gpuctl/gpuctl/internal/testhosts"
)

// The host lock is one per host, whichever user logs in: a run as deploy
// left /run/lock/gpuctl.lock owned by deploy, and Debian's
// fs.protected_regular=2 then refuses another user's O_CREAT open of it in
// the sticky /run/lock. A later run as root or alice must still take the
// lock (it failed with "host lock: EOF"). (Refusal while another run holds
// the lock needs a second process: TestSecondRunIsRefusedByTheHostLock.)
func TestHostLockAcrossUsers(t *testing.T) {
	h := testhosts.Start(t, 1)[0]
	cfg := func(user string) ssh.Config {
		return ssh.Config{
			Host: h.Addr, Port: h.Port, User: user, KeyFiles: []string{h.KeyFile}, NoAgent: true,
			KnownHostsFiles: []string{h.KnownHostsFile}, NoUserKnownHosts: true,
			ConnectTimeout: 10 * time.Second, HostLock: true,
		}
	}
	ctx := context.Background()
	first, err := ssh.Dial(ctx, cfg(testhosts.UserDeploy))
	if err != nil {
		t.Fatal(err)
	}
	if out := h.Run(t, "stat -c %U /run/lock/gpuctl/gpuctl.lock"); out != testhosts.UserDeploy {
		t.Fatalf("lock file owner = %q, want deploy's (the case under test)", out)
	}
	first.Close()
	for _, user := range []string{"root", testhosts.UserAlice, testhosts.UserDeploy} {
		var c *ssh.Conn
		// the holder ends when sshd sees the closed session: a moment
		for range 50 {
			if c, err = ssh.Dial(ctx, cfg(user)); !errors.Is(err, ssh.ErrHostLocked) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("%s after deploy: %v", user, err)
		}
		c.Close()
	}
}
