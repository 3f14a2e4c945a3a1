package ssh_test

import (
	"context"
	"os"
	"testing"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/conn/ssh"
	"github.com/gpuctl/gpuctl/conn/ssh/sshtest"
)

// BenchmarkRun measures one command round trip on a reused connection,
// the cost every task pays.
func BenchmarkRun(b *testing.B) {
	c, err := benchConn(b)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	for b.Loop() {
		if _, err := c.Run(ctx, "true"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStat measures an SFTP round trip.
func BenchmarkStat(b *testing.B) {
	c, err := benchConn(b)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	for b.Loop() {
		if _, err := c.Stat(ctx, "/etc/hostname"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriteSmall measures an atomic write of a small config file.
func BenchmarkWriteSmall(b *testing.B) {
	c, err := benchConn(b)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	p := "/tmp/gpuctl-bench-write"
	defer os.Remove(p)
	for b.Loop() {
		if err := c.WriteFile(ctx, p, []byte("key=value\n"), conn.FileAttrs{Mode: 0o644}); err != nil {
			b.Fatal(err)
		}
	}
}

// benchConn logs in as a fresh /bin/sh user: root's shell start-up files on
// a developer machine (pyenv, nvm) can cost more than everything measured.
func benchConn(b *testing.B) (*ssh.Conn, error) {
	srv := sshtest.Start(b)
	u := sshtest.AddUser(b, "")
	return ssh.Dial(context.Background(), config(srv, u.Name))
}

// BenchmarkBecomeRun measures a command through passwordless sudo.
func BenchmarkBecomeRun(b *testing.B) {
	srv := sshtest.Start(b)
	u := sshtest.AddUser(b, "ALL=(ALL:ALL) NOPASSWD: ALL")
	c, err := ssh.Dial(context.Background(), config(srv, u.Name))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	bc := conn.Become(c, conn.BecomeOptions{})
	ctx := context.Background()
	for b.Loop() {
		if _, err := bc.Run(ctx, "true"); err != nil {
			b.Fatal(err)
		}
	}
}
