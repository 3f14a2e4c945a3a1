// Package sshtest starts a real OpenSSH server on 127.0.0.1 for tests, with
// its own config, a generated host key and an authorized client key. It
// never touches the system's sshd configuration. Tests that use it skip
// when not running as root or when sshd cannot be had.
package sshtest

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

const sshdPath = "/usr/sbin/sshd"

// Server is a running sshd. Every user may log in with ClientKey.
type Server struct {
	Dir        string        // private working directory, removed at cleanup
	Host       string        // 127.0.0.1
	Port       int           //
	HostKey    ssh.PublicKey // the server's host key
	KnownHosts string        // a known_hosts file listing HostKey for Host:Port
	ClientKey  string        // private key file authorized for every user
	Log        string        // sshd's log file

	cmd *exec.Cmd
}

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// Available reports why a server cannot be started here, or "".
func Available() string {
	if os.Geteuid() != 0 {
		return "sshd tests need root (sshd's privilege separation)"
	}
	if _, err := os.Stat(sshdPath); err != nil {
		// Installing it is cheap on Debian and is what a fresh CI machine needs.
		out, err := exec.Command("apt-get", "install", "-y", "-q", "openssh-server").CombinedOutput()
		if err != nil {
			return fmt.Sprintf("%s missing and apt-get install openssh-server failed: %v: %s", sshdPath, err, lastLines(out))
		}
	}
	return ""
}

// Start runs sshd for the test and stops it at cleanup. It skips the test
// when sshd is unavailable.
//
// Logging in as root runs root's login shell, and bash sources ~/.bashrc
// under sshd: on a developer machine that can cost far more than the
// command (pyenv init: about 0.4 s), and killing such a session midway can
// leave pyenv's rehash lock behind, stalling later root sessions for 60 s.
// Tests that kill sessions or measure speed should log in as an AddUser
// user, whose shell is /bin/sh.
func Start(t testing.TB) *Server {
	t.Helper()
	if testing.Short() {
		t.Skip("sshd integration test (skipped with -short)")
	}
	if why := Available(); why != "" {
		t.Skip(why)
	}
	// Non-root test users read authorized_keys as themselves, so this
	// directory cannot be t.TempDir's private one.
	staleDirs.Do(removeStaleDirs)
	dir, err := os.MkdirTemp("", "gpuctl-sshd-"+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// sshd refuses to start without its privilege separation directory,
	// which the init system normally creates.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}

	s := &Server{Dir: dir, Host: "127.0.0.1", Log: filepath.Join(dir, "sshd.log")}
	hostPub, err := WriteKey(filepath.Join(dir, "host_ed25519"))
	if err != nil {
		t.Fatal(err)
	}
	s.HostKey = hostPub
	s.ClientKey = filepath.Join(dir, "client_ed25519")
	clientPub, err := WriteKey(s.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), ssh.MarshalAuthorizedKey(clientPub), 0o644); err != nil {
		t.Fatal(err)
	}

	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		if lastErr = s.start(); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		t.Fatalf("start sshd: %v", lastErr)
	}
	t.Cleanup(s.Kill)
	t.Cleanup(func() {
		if t.Failed() {
			log, _ := os.ReadFile(s.Log)
			t.Logf("sshd log:\n%s", lastLines(log))
		}
	})

	s.KnownHosts = filepath.Join(dir, "known_hosts")
	line := fmt.Sprintf("[%s]:%d %s", s.Host, s.Port, ssh.MarshalAuthorizedKey(hostPub))
	if err := os.WriteFile(s.KnownHosts, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *Server) start() error {
	port, err := freePort()
	if err != nil {
		return err
	}
	s.Port = port
	cfg := fmt.Sprintf(`Port %d
ListenAddress %s
HostKey %s/host_ed25519
PidFile %s/sshd.pid
AuthorizedKeysFile %s/authorized_keys
StrictModes no
UsePAM no
PermitRootLogin yes
PasswordAuthentication yes
KbdInteractiveAuthentication no
MaxSessions 30
MaxStartups 100
LogLevel VERBOSE
Subsystem sftp internal-sftp
`, port, s.Host, s.Dir, s.Dir, s.Dir)
	cfgPath := filepath.Join(s.Dir, "sshd_config")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return err
	}
	logf, err := os.OpenFile(s.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(sshdPath, "-D", "-e", "-f", cfgPath)
	// SSHTEST_STRACE=file traces sshd and its sessions, to see where time goes.
	if os.Getenv("SSHTEST_STRACE") != "" {
		cmd = exec.Command("strace", "-f", "-tt", "-o", os.Getenv("SSHTEST_STRACE"), sshdPath, "-D", "-e", "-f", cfgPath)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	// A test binary killed by its timeout runs no cleanup: take sshd along.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			log, _ := os.ReadFile(s.Log)
			return fmt.Errorf("sshd exited: %s", lastLines(log))
		default:
		}
		if c, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
			banner, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if strings.HasPrefix(banner, "SSH-") {
				s.cmd = cmd
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Kill()
	return fmt.Errorf("sshd did not answer on %s", s.Addr())
}

// Kill stops sshd and every session process it forked, as a crash or a
// power cut would: connections die without a goodbye.
func (s *Server) Kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	for _, pid := range descendants(s.cmd.Process.Pid) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	s.cmd.Process.Kill()
	s.cmd = nil
}

// KillSessions kills the per-connection processes but keeps the listener,
// so existing connections die and new ones succeed.
func (s *Server) KillSessions() {
	if s.cmd == nil {
		return
	}
	for _, pid := range descendants(s.cmd.Process.Pid) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// DropConnections kills only the sshd processes serving connections, as a
// network failure would end them: the commands they ran see their input
// close and can clean up, unlike with KillSessions.
func (s *Server) DropConnections() {
	if s.cmd == nil {
		return
	}
	for _, pid := range descendants(s.cmd.Process.Pid) {
		if comm, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm"); err == nil && strings.HasPrefix(strings.TrimSpace(string(comm)), "sshd") {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// descendants lists the processes below pid, deepest last.
func descendants(root int) []int {
	parent := map[int]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// The command name may hold spaces; fields resume after its ')'.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 2 {
			continue
		}
		if pp, err := strconv.Atoi(f[1]); err == nil {
			parent[pid] = pp
		}
	}
	var out []int
	var walk func(int)
	walk = func(p int) {
		for pid, pp := range parent {
			if pp == p {
				out = append(out, pid)
				walk(pid)
			}
		}
	}
	walk(root)
	return out
}

// WriteKey generates an ed25519 key, writes it to path in OpenSSH format
// (mode 0600) and returns its public half.
func WriteKey(path string) (ssh.PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, "gpuctl-test")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, err
	}
	return ssh.NewPublicKey(pub)
}

// User is a throwaway local account that can log in to the server.
type User struct {
	Name     string
	Password string
	Home     string
}

// AddUser creates a local user with a password and a home directory, and
// with sudoers (a sudoers rule body such as "ALL=(ALL) NOPASSWD: ALL") when
// not empty. The user and its sudoers file are removed at cleanup.
func AddUser(t testing.TB, sudoers string) User {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("creating test users needs root")
	}
	staleUsers.Do(removeStaleUsers)
	var b [4]byte
	rand.Read(b[:])
	u := User{Name: "gpt" + hex.EncodeToString(b[:]), Password: "pw-" + hex.EncodeToString(b[:]) + "-x"}
	home, err := os.MkdirTemp("", "gpuctl-home-")
	if err != nil {
		t.Fatal(err)
	}
	u.Home = home
	t.Cleanup(func() { os.RemoveAll(home) })
	// High ids keep clear of the users of containers sharing this kernel,
	// whose processes would otherwise look like ours.
	add := exec.Command("useradd", "-M", "-d", home, "-s", "/bin/sh", "-c", userTag+strconv.Itoa(os.Getpid()),
		"-K", "UID_MIN=62000", "-K", "UID_MAX=64999", "-K", "GID_MIN=62000", "-K", "GID_MAX=64999", u.Name)
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("useradd: %v: %s", err, out)
	}
	t.Cleanup(func() {
		// -f: a session of the user may still be closing.
		if out, err := exec.Command("userdel", "-f", u.Name).CombinedOutput(); err != nil {
			t.Errorf("userdel %s: %v: %s", u.Name, err, out)
		}
	})
	if out, err := exec.Command("chown", u.Name+":", home).CombinedOutput(); err != nil {
		t.Fatalf("chown home: %v: %s", err, out)
	}
	chpasswd := exec.Command("chpasswd")
	chpasswd.Stdin = strings.NewReader(u.Name + ":" + u.Password + "\n")
	if out, err := chpasswd.CombinedOutput(); err != nil {
		t.Fatalf("chpasswd: %v: %s", err, out)
	}
	if sudoers != "" {
		if _, err := os.Stat("/usr/bin/sudo"); err != nil {
			t.Skip("sudo is not installed")
		}
		f := "/etc/sudoers.d/" + u.Name
		if err := os.WriteFile(f, []byte(u.Name+" "+sudoers+"\n"), 0o440); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			os.Remove(f)
			// sudo remembers whom it lectured; leave nothing behind.
			os.Remove("/var/lib/sudo/lectured/" + u.Name)
		})
	}
	return u
}

var staleDirs sync.Once

// removeStaleDirs removes the directories of servers whose test binary died
// before its cleanup (their sshd died with it, see Pdeathsig).
func removeStaleDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "gpuctl-sshd-*-*"))
	for _, d := range dirs {
		pidStr, _, _ := strings.Cut(strings.TrimPrefix(filepath.Base(d), "gpuctl-sshd-"), "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil || pid == os.Getpid() || syscall.Kill(pid, 0) == nil {
			continue
		}
		os.RemoveAll(d)
	}
}

// userTag marks the users AddUser creates, with the owning process id, so
// a later run can remove those of a test binary that died before cleanup.
const userTag = "gpuctl-sshtest pid="

var staleUsers sync.Once

func removeStaleUsers() {
	passwd, err := os.ReadFile("/etc/passwd")
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(passwd), "\n") {
		f := strings.Split(line, ":")
		if len(f) < 7 || !strings.HasPrefix(f[4], userTag) {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimPrefix(f[4], userTag))
		if err != nil || pid == os.Getpid() || syscall.Kill(pid, 0) == nil {
			continue
		}
		exec.Command("userdel", "-f", f[0]).Run()
		os.Remove("/etc/sudoers.d/" + f[0])
		os.Remove("/var/lib/sudo/lectured/" + f[0])
		if strings.HasPrefix(f[5], os.TempDir()+"/gpuctl-home-") {
			os.RemoveAll(f[5])
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func lastLines(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 4000 {
		s = s[len(s)-4000:]
	}
	return s
}
