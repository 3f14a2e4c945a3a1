package ssh_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/conn/ssh"
	"github.com/gpuctl/gpuctl/conn/ssh/sshtest"
)

// A command the server starts must not inherit the host lock's descriptor:
// a daemon it leaves behind would keep the host locked after the run. The
// lock is free once the connection closes.
func TestCommandServerHoldsTheLockAlone(t *testing.T) {
	srv := sshtest.Start(t)
	cfg, _ := shellUser(t, srv)
	cfg.HostLock, cfg.CommandServer = true, true
	c := dial(t, cfg)
	ctx := context.Background()
	if out, err := conn.Output(ctx, c, "cat /proc/$PPID/comm"); err != nil || out != "perl" {
		t.Fatalf("the command's parent is %q (%v), want the server (perl): the lock holder should be the server", out, err)
	}
	lock, err := conn.Output(ctx, c, `for f in /proc/$PPID/fd/*; do l=$(readlink "$f"); case $l in */gpuctl.lock) echo "$l";; esac; done`)
	if err != nil || !strings.HasSuffix(lock, "/gpuctl.lock") {
		t.Fatalf("the server holds no lock file: %q %v", lock, err)
	}
	pid, err := conn.Output(ctx, c, "sleep 60 </dev/null >/dev/null 2>&1 & echo $!")
	if err != nil {
		t.Fatal(err)
	}
	plain := dial(t, func() ssh.Config { p := cfg; p.HostLock, p.CommandServer = false, false; return p }())
	t.Cleanup(func() { plain.Run(context.Background(), "kill "+pid) })
	if out, _ := conn.Output(ctx, plain, "ls -l /proc/"+pid+"/fd"); strings.Contains(out, "gpuctl.lock") {
		t.Fatalf("the daemon a command left holds the lock:\n%s", out)
	}
	if res, _ := plain.Run(ctx, "flock -n "+lock+" true"); res.ExitCode == 0 {
		t.Fatal("the lock is free while the locking connection lives")
	}
	c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := plain.Run(ctx, "flock -n "+lock+" true")
		if err != nil {
			t.Fatal(err)
		}
		if res.ExitCode == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the lock is still held 10 s after the connection closed (the daemon keeps it?)")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// When the server is killed, the connection lives on and commands go back
// to a session each.
func TestCommandServerKilled(t *testing.T) {
	srv := sshtest.Start(t)
	cfg, _ := shellUser(t, srv)
	cfg.CommandServer = true
	c := dial(t, cfg)
	ctx := context.Background()
	ppid, err := conn.Output(ctx, c, "echo $PPID")
	if err != nil {
		t.Fatal(err)
	}
	if out, _ := conn.Output(ctx, c, "cat /proc/$PPID/comm"); out != "perl" {
		t.Fatalf("parent %q, want perl", out)
	}
	// A command already running when the server dies is lost with it.
	errc := make(chan error, 1)
	go func() {
		_, err := c.Run(ctx, "sleep 5")
		errc <- err
	}()
	time.Sleep(200 * time.Millisecond)
	plainCfg := cfg
	plainCfg.CommandServer = false
	if _, err := dial(t, plainCfg).Run(ctx, "kill "+ppid); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if err == nil || errors.Is(err, conn.ErrConnLost) || !strings.Contains(err.Error(), "command server") {
			t.Fatalf("running command: err = %v, want the command server's end (not a lost connection)", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the running command's Run did not return when the server died")
	}
	for i := 0; i < 5; i++ {
		out, err := conn.Output(ctx, c, "cat /proc/$PPID/comm")
		if err != nil {
			t.Fatalf("after the server's end: %v", err)
		}
		if out == "perl" {
			t.Fatal("still run by a server")
		}
	}
}

// Outputs larger than a frame, on both streams at once, arrive whole and
// apart; the exit code comes after them.
func TestCommandServerLargeOutput(t *testing.T) {
	srv := sshtest.Start(t)
	cfg := config(srv, "root")
	cfg.CommandServer = true
	c := dial(t, cfg)
	seed := make([]byte, 16)
	rand.Read(seed)
	hexSeed := hex.EncodeToString(seed)
	// 4 MiB of stdout and 1 MiB of stderr, interleaved.
	res, err := c.Run(context.Background(), "i=0; while [ $i -lt 64 ]; do head -c 65536 /dev/zero | tr '\\0' a; head -c 16384 /dev/zero | tr '\\0' b >&2; i=$((i+1)); done; echo "+hexSeed+"; exit 7")
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Repeat("a", 64*65536) + hexSeed + "\n"
	if res.Stdout != want || res.Stderr != strings.Repeat("b", 64*16384) || res.ExitCode != 7 {
		t.Fatalf("stdout %d bytes (want %d), stderr %d bytes, rc %d", len(res.Stdout), len(want), len(res.Stderr), res.ExitCode)
	}
	var stream bytes.Buffer
	res, err = c.Run(context.Background(), "seq 1 100000", conn.Stream(&stream))
	if err != nil || stream.String() != res.Stdout || !strings.HasSuffix(res.Stdout, "\n100000\n") {
		t.Fatalf("stream %d bytes, stdout %d bytes, err %v", stream.Len(), len(res.Stdout), err)
	}
}
