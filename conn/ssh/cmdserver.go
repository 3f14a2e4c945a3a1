package ssh

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gpuctl/gpuctl/conn"
)

// The command server runs a connection's commands from one long-lived
// process on the host instead of one SSH session each. A session costs the
// host far more than the command in it usually does: sshd forks, the login
// shell starts and reads its rc files, and the wrapper's shells start; on a
// Debian host that is about 20 ms of CPU for `true`, while the server's
// fork and exec of /bin/sh is about 1 ms. On a fleet whose re-run is a few
// probes per host, that is most of what gpuctl costs the host.
//
// The server is Perl because perl-base is Essential on Debian and Ubuntu
// (always installed) and its builtins give what a POSIX shell lacks:
// pipes per command, a select loop, process groups and wait statuses. It
// uses no module, so it starts in a few milliseconds. A host without perl
// gets the session per command it always had.
//
// It is the host lock's holder when there is one (hostlock.go), so the
// lock costs no session of its own, and it ends, freeing the lock, when
// the connection closes (EOF on its stdin) or dies (SIGPIPE). It leaves
// running commands alone then, as sshd does with a session's command.
//
// Frames both ways are "T ID LEN\n" and LEN bytes. To the server:
// R (run; payload argv joined by NUL), K (signal the command's process
// group; payload the signal name). From it: P (started; pid, which is
// also its process group), O and E (stdout and stderr bytes), D (done;
// the wait status, sent once the command exited and closed both outputs,
// as an SSH session ends) and F (could not start; why).
const serverScript = `use strict;
my ($in, %k) = ('');
pipe(my $sr, my $sw) or die;
$SIG{CHLD} = sub { syswrite($sw, '.') };
sub out {
	my $m = "$_[0] $_[1] " . length($_[2]) . "\n$_[2]";
	while (length $m) {
		my $n = syswrite(STDOUT, $m);
		if (!defined $n) { next if $! == 4; exit 0 }
		substr($m, 0, $n) = '';
	}
}
sub spawn {
	my ($id, @argv) = @_;
	my ($or, $ow, $er, $ew);
	unless (pipe($or, $ow) && pipe($er, $ew)) { out('F', $id, "pipe: $!"); return }
	my $pid = fork;
	unless (defined $pid) { out('F', $id, "fork: $!"); return }
	if (!$pid) {
		setpgrp(0, 0);
		$SIG{CHLD} = 'DEFAULT';
		# fd 9 is the host lock: a command that leaves a daemon behind must not keep it.
		if (open(my $l, '<&=', 9)) { close $l }
		open(STDIN, '<', '/dev/null');
		open(STDOUT, '>&', $ow);
		open(STDERR, '>&', $ew);
		exec { $argv[0] } @argv;
		syswrite(STDERR, "gpuctl: exec $argv[0]: $!\n");
		exit 127;
	}
	setpgrp($pid, $pid);
	close $ow;
	close $ew;
	$k{$id} = { pid => $pid, fh => [[$or, 'O'], [$er, 'E']] };
	out('P', $id, $pid);
}
sub frames {
	while ($in =~ /\A([A-Z]) (\d+) (\d+)\n/) {
		my ($t, $id, $len, $h) = ($1, $2, $3, $+[0]);
		return if length($in) < $h + $len;
		my $d = substr($in, $h, $len);
		substr($in, 0, $h + $len) = '';
		if ($t eq 'R') { spawn($id, split(/\0/, $d, -1)) }
		elsif ($t eq 'K' && $k{$id}) { kill($d, -$k{$id}{pid}) }
	}
}
while (1) {
	my $r = '';
	vec($r, 0, 1) = 1;
	vec($r, fileno($sr), 1) = 1;
	for my $c (values %k) { vec($r, fileno($_->[0]), 1) = 1 for @{$c->{fh}} }
	if (select($r, undef, undef, 1) > 0) {
		sysread($sr, my $x, 512) if vec($r, fileno($sr), 1);
		if (vec($r, 0, 1)) {
			my $n = sysread(STDIN, $in, 65536, length $in);
			exit 0 if defined $n && $n == 0;
			exit 0 if !defined $n && $! != 4;
			frames();
		}
		for my $id (keys %k) {
			my $c = $k{$id};
			for my $f (@{$c->{fh}}) {
				next unless vec($r, fileno($f->[0]), 1);
				my $n = sysread($f->[0], my $d, 65536);
				if ($n) { out($f->[1], $id, $d) }
				elsif (defined $n || $! != 4) { close $f->[0]; $f->[0] = undef }
			}
			$c->{fh} = [grep { defined $_->[0] } @{$c->{fh}}];
		}
	}
	while ((my $p = waitpid(-1, 1)) > 0) {
		for (values %k) { $_->{st} = $? if $_->{pid} == $p }
	}
	for my $id (keys %k) {
		my $c = $k{$id};
		next if !defined $c->{st} || @{$c->{fh}};
		out('D', $id, $c->{st});
		delete $k{$id};
	}
}`

// serverStart is how a session without the lock starts the server: it
// says whether perl is there before becoming it.
const serverStart = `command -v perl >/dev/null 2>&1 || { echo gpuctl-cmdserver-none; exit 0; }
echo gpuctl-cmdserver; exec perl -e "$1"`

// errServerGone: the command server ended while the connection lived
// (someone killed it); commands go back to sessions.
var errServerGone = errors.New("gpuctl's command server on the host ended")

// errNotStarted: the server went away before it started a command, which
// Conn.Run then gives to a session.
var errNotStarted = errors.New("the command server ended before it started the command")

// cmdServer is the controller's end of the command server.
type cmdServer struct {
	c *Conn

	wmu sync.Mutex
	w   io.WriteCloser

	mu   sync.Mutex
	next uint64
	cmds map[uint64]*serverCmd
	gone chan struct{} // closed when the server's output ended
	err  error         // why, set before gone is closed
}

type serverCmd struct {
	stdout, stderr strings.Builder
	stream         io.Writer
	status         int
	startErr       string
	started        bool // the server reported P: the command may have run
	ended          bool // the server reported D or F, rather than going away
	done           chan struct{}
}

// startCmdReader runs the reader for a server whose session's stdin is w and
// whose output (after the status line) is r.
func (c *Conn) startCmdReader(w io.WriteCloser, r *bufio.Reader) {
	s := &cmdServer{c: c, w: w, cmds: map[uint64]*serverCmd{}, gone: make(chan struct{})}
	c.server = s
	go s.read(r)
}

// startCmdServer starts a server in a session of its own, for a connection
// that holds no host lock (whose holder would be the server).
func (c *Conn) startCmdServer(ctx context.Context) error {
	sess, _, err := c.session(ctx)
	if err != nil {
		return err
	}
	stdin, err := sess.StdinPipe()
	if err != nil {
		sess.Close()
		return c.lost("command server", err)
	}
	out, err := sess.StdoutPipe()
	if err != nil {
		sess.Close()
		return c.lost("command server", err)
	}
	if err := sess.Start("exec /bin/sh -c " + conn.Quote(serverStart) + " gpuctl " + conn.Quote(serverScript)); err != nil {
		sess.Close()
		return c.lost("command server", err)
	}
	r := bufio.NewReader(out)
	first, err := r.ReadString('\n')
	switch strings.TrimSpace(first) {
	case "gpuctl-cmdserver":
		// Like the lock's, this session keeps its slot for good.
		c.serverStdin = stdin
		c.startCmdReader(stdin, r)
		return nil
	case "gpuctl-cmdserver-none":
		sess.Wait()
	default:
		if err != nil {
			sess.Close()
			<-c.sessions
			return c.lost("command server", err)
		}
	}
	sess.Close()
	<-c.sessions
	c.cfg.Logger.Debug("no command server (no perl on the host): a session per command", "host", c.cfg.name())
	return nil
}

func (s *cmdServer) read(r *bufio.Reader) {
	err := s.readFrames(r)
	s.mu.Lock()
	s.err = err
	cmds := s.cmds
	s.cmds = nil
	close(s.gone)
	s.mu.Unlock()
	for _, cmd := range cmds {
		close(cmd.done)
	}
	if !s.c.isClosed() && !s.c.isDead() {
		s.c.cfg.Logger.Warn("gpuctl's command server on the host ended: commands use a session each from now on, and the host lock it held is free",
			"host", s.c.cfg.name(), "err", err)
	}
}

func (s *cmdServer) readFrames(r *bufio.Reader) error {
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			if err == io.EOF {
				return errServerGone
			}
			return err
		}
		f := strings.Fields(line)
		if len(f) != 3 || len(f[0]) != 1 {
			return fmt.Errorf("%w: bad frame %q", errServerGone, line)
		}
		id, err1 := strconv.ParseUint(f[1], 10, 64)
		n, err2 := strconv.Atoi(f[2])
		if err1 != nil || err2 != nil || n < 0 {
			return fmt.Errorf("%w: bad frame %q", errServerGone, line)
		}
		data := make([]byte, n)
		if _, err := io.ReadFull(r, data); err != nil {
			return err
		}
		s.mu.Lock()
		cmd := s.cmds[id]
		if f[0] == "D" || f[0] == "F" {
			delete(s.cmds, id)
		}
		s.mu.Unlock()
		if cmd == nil {
			continue // a command Run gave up on
		}
		switch f[0] {
		case "O":
			cmd.stdout.Write(data)
			if cmd.stream != nil {
				cmd.stream.Write(data)
			}
		case "P":
			cmd.started = true
		case "E":
			cmd.stderr.Write(data)
		case "D":
			st, _ := strconv.Atoi(string(data))
			cmd.status = st
			cmd.ended = true
			close(cmd.done)
		case "F":
			cmd.startErr = string(data)
			cmd.ended = true
			close(cmd.done)
		}
	}
}

func (s *cmdServer) alive() bool {
	select {
	case <-s.gone:
		return false
	default:
		return true
	}
}

func (s *cmdServer) send(kind byte, id uint64, payload string) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_, err := io.WriteString(s.w, fmt.Sprintf("%c %d %d\n%s", kind, id, len(payload), payload))
	return err
}

// run is Conn.Run through the server; the Result and errors are the same.
func (s *cmdServer) run(ctx context.Context, argv []string, stream io.Writer) (conn.Result, error) {
	if err := ctx.Err(); err != nil {
		return conn.Result{}, err
	}
	cmd := &serverCmd{stream: stream, done: make(chan struct{})}
	s.mu.Lock()
	if s.cmds == nil {
		s.mu.Unlock()
		return conn.Result{}, errNotStarted
	}
	s.next++
	id := s.next
	s.cmds[id] = cmd
	s.mu.Unlock()
	if err := s.send('R', id, strings.Join(argv, "\x00")); err != nil {
		s.forget(id)
		if !s.c.isDead() && !s.c.isClosed() {
			return conn.Result{}, errNotStarted
		}
		return conn.Result{}, s.c.lost("run", err)
	}

	select {
	case <-cmd.done:
	case <-ctx.Done():
		if !s.cancel(id, cmd) {
			s.forget(id)
			// The reader may still write to the output buffers.
			return conn.Result{ExitCode: -1}, ctx.Err()
		}
		return conn.Result{Stdout: cmd.stdout.String(), Stderr: cmd.stderr.String(), ExitCode: -1}, ctx.Err()
	}
	res := conn.Result{Stdout: cmd.stdout.String(), Stderr: cmd.stderr.String()}
	switch {
	case cmd.startErr != "":
		return res, fmt.Errorf("ssh: %s: run: the host could not start the command: %s", s.c.cfg.name(), cmd.startErr)
	case !cmd.ended:
		s.mu.Lock()
		err := s.err
		s.mu.Unlock()
		if !cmd.started && !s.c.isDead() && !s.c.isClosed() {
			return res, errNotStarted
		}
		return res, s.c.lost("run", err)
	}
	// A wait status: exit code in the high byte, else the killing signal.
	if sig := cmd.status & 0x7f; sig != 0 {
		res.ExitCode = 128 + sig
	} else {
		res.ExitCode = cmd.status >> 8
	}
	return res, nil
}

// cancel is Conn.cancel's SIGTERM, grace, SIGKILL for a server command.
// It reports whether the command has ended.
func (s *cmdServer) cancel(id uint64, cmd *serverCmd) bool {
	s.send('K', id, "TERM")
	select {
	case <-cmd.done:
		return true
	case <-time.After(cancelGrace):
	}
	s.send('K', id, "KILL")
	select {
	case <-cmd.done:
		return true
	case <-time.After(time.Second):
		return false
	}
}

func (s *cmdServer) forget(id uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmds != nil {
		delete(s.cmds, id)
	}
}
