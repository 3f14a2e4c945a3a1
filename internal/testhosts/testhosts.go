// Package testhosts starts throwaway Debian 12 hosts with systemd and a real OpenSSH server for
// integration tests, through the scripts in test/hosts (see test/hosts/README.md).
//
// Hosts are systemd-nspawn containers by default (about 1-3 s to start) or, with VM(), QEMU/TCG
// virtual machines with a real kernel for swap, modprobe and sysctl (about 2-5 s, cloned from a
// pre-booted template). Every host has its own address, a fresh SSH host key and the users
// UserRoot, UserDeploy and UserAlice, all logging in with the key in Host.KeyFile.
//
// Start needs root and an image built by test/hosts/build.sh; without them it skips the test, unless
// GPUCTL_TEST_HOSTS=require, which turns the skip into a failure (CI sets it so a broken fixture
// cannot pass silently). GPUCTL_TEST_HOSTS=off always skips. -short always skips.
package testhosts

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// Users of every test host. All log in by key (Host.KeyFile); none accepts a password over SSH.
const (
	UserRoot   = "root"
	UserDeploy = "deploy" // sudo without a password
	UserAlice  = "alice"  // sudo asks for AlicePassword
	// AlicePassword is alice's login password, which sudo asks her for.
	AlicePassword = "alice-sudo-pw"
)

// EnvMode names the environment variable that decides what happens when hosts cannot start:
// "require" fails the test, "off" skips it even when hosts could start, anything else skips with a reason.
const EnvMode = "GPUCTL_TEST_HOSTS"

// Host is one running test host.
type Host struct {
	Name string // also its hostname
	Addr string // address sshd is reachable at: 127.0.10.N (nspawn), 10.88.0.N (private), 127.0.0.1 (VM)
	Port int    // 22, or the forwarded port of a VM
	// KeyFile is the private key root, deploy and alice accept.
	KeyFile string
	// KnownHostsFile holds the known_hosts line of this host's key as it was when this Host was
	// returned (by Start or RegenHostKey); it is never rewritten, so after RegenHostKey the old file
	// is the stale one a changed-key test needs.
	KnownHostsFile string
	// HostKeyLine is the host's public key, "ssh-ed25519 AAAA...", as in KnownHostsFile.
	HostKeyLine string
	VM          bool   // a QEMU VM with its own kernel rather than a container
	Dir         string // the host's state dir (logs, overlay, pids); removed by Stop

	scripts string
}

// KnownHostsLine is the host's line for a known_hosts file ("[addr]:port" form when port is not 22).
func (h Host) KnownHostsLine() string {
	if h.Port == 22 {
		return h.Addr + " " + h.HostKeyLine
	}
	return fmt.Sprintf("[%s]:%d %s", h.Addr, h.Port, h.HostKeyLine)
}

// Option changes what Start starts.
type Option func(*config)

type config struct {
	vm      bool
	private bool
}

// VM starts QEMU/TCG virtual machines with a real Debian kernel instead of containers: for swapon,
// modprobe, sysctl -w and anything else a container on a shared kernel cannot do.
func VM() Option { return func(c *config) { c.vm = true } }

// PrivateNetwork gives each container its own network namespace on bridge gpuctl-br0 (10.88.0.0/24)
// instead of an address on the machine's loopback. The hosts reach each other and this machine but
// not the Debian mirror.
func PrivateNetwork() Option { return func(c *config) { c.private = true } }

var (
	seq       atomic.Int64
	staleOnce sync.Once
)

// Start starts n hosts in parallel, waits until each answers SSH and stops them all when the test
// ends. It skips the test (or fails it, see EnvMode) when hosts cannot run here.
func Start(t testing.TB, n int, opts ...Option) []Host {
	t.Helper()
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	scripts := scriptsDir()
	if reason := unavailable(scripts, cfg); reason != "" {
		if os.Getenv(EnvMode) == "require" && !testing.Short() {
			t.Fatalf("testhosts: %s (%s=require)", reason, EnvMode)
		}
		t.Skipf("testhosts: %s", reason)
	}
	// Hosts of test binaries that died without cleaning up would hold address slots and memory.
	staleOnce.Do(func() { _ = exec.Command(filepath.Join(scripts, "stop.sh"), "--stale").Run() })

	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("t%d-%d", os.Getpid(), seq.Add(1))
	}
	// Registered before starting, so a half-failed start is cleaned up too.
	t.Cleanup(func() { stopAll(t, scripts, names) })

	args := []string{}
	switch {
	case cfg.vm:
		args = append(args, "--vm")
	case cfg.private:
		args = append(args, "--private")
	}
	hosts := make([]Host, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() {
			cmd := exec.Command(filepath.Join(scripts, "start.sh"), append([]string{name}, args...)...)
			cmd.Env = append(os.Environ(), "GPUCTL_HOSTS_OWNER="+strconv.Itoa(os.Getpid()))
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				errs[i] = fmt.Errorf("start %s: %w\n%s", name, err, stderr.String())
				return
			}
			hosts[i], errs[i] = parseEnv(stdout.Bytes())
			hosts[i].scripts = scripts
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("testhosts: %v", err)
	}
	return hosts
}

func stopAll(t testing.TB, scripts string, names []string) {
	var wg sync.WaitGroup
	for _, name := range names {
		wg.Go(func() {
			out, err := exec.Command(filepath.Join(scripts, "stop.sh"), name).CombinedOutput()
			if err != nil {
				t.Errorf("testhosts: stop %s: %v\n%s", name, err, out)
			}
		})
	}
	wg.Wait()
}

// unavailable says why hosts cannot start here, or "" when they can.
func unavailable(scripts string, cfg config) string {
	switch {
	case testing.Short():
		return "test hosts are not started in -short mode"
	case os.Getenv(EnvMode) == "off":
		return EnvMode + "=off"
	case os.Geteuid() != 0:
		return "test hosts need root (systemd-nspawn, overlay mounts, cgroups)"
	}
	if _, err := os.Stat(filepath.Join(scripts, "start.sh")); err != nil {
		return fmt.Sprintf("scripts not found: %v", err)
	}
	check := []string{"--check"}
	if !cfg.vm {
		check = append(check, "--no-vm")
	}
	if err := exec.Command(filepath.Join(scripts, "build.sh"), check...).Run(); err != nil {
		what := "image"
		if cfg.vm {
			what = "VM image"
		}
		return fmt.Sprintf("%s not built or out of date: run %s", what, filepath.Join(scripts, "build.sh"))
	}
	return ""
}

// scriptsDir finds test/hosts from this source file, so tests of any package find it; the
// GPUCTL_HOSTS_SCRIPTS environment variable overrides it for binaries run away from the source tree.
func scriptsDir() string {
	if d := os.Getenv("GPUCTL_HOSTS_SCRIPTS"); d != "" {
		return d
	}
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "test", "hosts")
}

// parseEnv reads start.sh's KEY=VALUE lines.
func parseEnv(b []byte) (Host, error) {
	var h Host
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		switch k {
		case "NAME":
			h.Name = v
		case "MODE":
			h.VM = v == "vm"
		case "ADDR":
			h.Addr = v
		case "PORT":
			p, err := strconv.Atoi(v)
			if err != nil {
				return h, fmt.Errorf("start.sh: bad PORT %q: %w", v, err)
			}
			h.Port = p
		case "DIR":
			h.Dir = v
		case "KEY":
			h.KeyFile = v
		case "KNOWN_HOSTS":
			h.KnownHostsFile = v
		case "HOSTKEY":
			h.HostKeyLine = v
		}
	}
	if h.Name == "" || h.Addr == "" || h.Port == 0 || h.KeyFile == "" || h.KnownHostsFile == "" {
		return h, fmt.Errorf("start.sh: incomplete output:\n%s", b)
	}
	return h, nil
}
