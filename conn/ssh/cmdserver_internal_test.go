package ssh

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// localServer runs the server script in a local perl, wired to a cmdServer
// as a session's pipes would be: the protocol without sshd.
func localServer(t *testing.T) *cmdServer {
	t.Helper()
	if _, err := exec.LookPath("perl"); err != nil {
		t.Skip("no perl")
	}
	cmd := exec.Command("perl", "-e", serverScript)
	w, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	r, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close(); cmd.Wait() })
	c := &Conn{cfg: &resolved{Config: Config{Host: "local", Logger: slog.New(slog.DiscardHandler)}}, dead: make(chan struct{}), closed: make(chan struct{})}
	c.startCmdReader(w, bufio.NewReader(r))
	return c.server
}

func TestServerProtocolLocally(t *testing.T) {
	s := localServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := s.run(ctx, []string{"/bin/sh", "-c", `i=0; while [ $i -lt 64 ]; do head -c 65536 /dev/zero | tr '\0' a; head -c 16384 /dev/zero | tr '\0' b >&2; i=$((i+1)); done; exit 7`}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if res.Stdout != strings.Repeat("a", 64*65536) || res.Stderr != strings.Repeat("b", 64*16384) || res.ExitCode != 7 {
		t.Fatalf("stdout %d stderr %d rc %d", len(res.Stdout), len(res.Stderr), res.ExitCode)
	}
}
