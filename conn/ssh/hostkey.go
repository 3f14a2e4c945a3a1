package ssh

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/skeema/knownhosts"
	"golang.org/x/crypto/ssh"

	"github.com/gpuctl/gpuctl/conn"
)

// HostKeyError is a host key that could not be verified: either the host is
// not in any known_hosts file, or it is and the key differs (Changed). It
// matches conn.ErrHostKey with errors.Is.
type HostKeyError struct {
	Host        string // host:port as looked up
	Key         ssh.PublicKey
	Changed     bool
	Files       []string // known_hosts files consulted
	Fingerprint string
}

func (e *HostKeyError) Unwrap() error { return conn.ErrHostKey }

func (e *HostKeyError) Error() string {
	host, port := splitHostPort(e.Host)
	shown := knownhosts.Normalize(e.Host)
	files := strings.Join(e.Files, ", ")
	if files == "" {
		files = "no known_hosts file exists"
	}
	if e.Changed {
		return fmt.Sprintf("%v: host key for %s changed: it now offers %s %s, which does not match %s. "+
			"This can mean someone is intercepting the connection. If the host was reinstalled, remove the old key "+
			"with `ssh-keygen -R %s` and connect again",
			conn.ErrHostKey, shown, e.Key.Type(), e.Fingerprint, files, shown)
	}
	keyscan := "ssh-keyscan " + host
	if port != "22" {
		keyscan = "ssh-keyscan -p " + port + " " + host
	}
	return fmt.Sprintf("%v: host %s is unknown (not in %s); it offers %s %s. "+
		"After checking that fingerprint, add it with `%s >> ~/.ssh/known_hosts` "+
		"(or list another known_hosts file); for throwaway hosts only, turn checking off explicitly "+
		"(inventory variable ansible_host_key_checking: false, or GPUCTL_HOST_KEY_CHECKING=false)",
		conn.ErrHostKey, shown, files, e.Key.Type(), e.Fingerprint, keyscan)
}

// hostKeyChecker returns the callback verifying the server's key and the
// key algorithms to ask for, so a server with several host keys presents
// the one known_hosts records rather than a "changed" one.
func hostKeyChecker(cfg *resolved) (ssh.HostKeyCallback, []string, error) {
	if cfg.InsecureIgnoreHostKey {
		cfg.Logger.Warn("host key checking is off", "host", cfg.name())
		return ssh.InsecureIgnoreHostKey(), nil, nil
	}
	var files []string
	candidates := append([]string(nil), cfg.KnownHostsFiles...)
	if !cfg.NoUserKnownHosts {
		if home, err := os.UserHomeDir(); err == nil {
			candidates = append(candidates, filepath.Join(home, ".ssh", "known_hosts"))
		}
	}
	for _, f := range candidates {
		f = expandHome(f)
		if _, err := os.Stat(f); err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				return nil, nil, fmt.Errorf("ssh: known_hosts %s: %w", f, err)
			}
			continue
		}
		files = append(files, f)
	}
	var inner ssh.HostKeyCallback
	var algos []string
	if len(files) == 0 {
		inner = func(string, net.Addr, ssh.PublicKey) error { return errUnknown }
	} else {
		db, err := knownhosts.NewDB(files...)
		if err != nil {
			return nil, nil, fmt.Errorf("ssh: known_hosts: %w", err)
		}
		inner = db.HostKeyCallback()
		algos = db.HostKeyAlgorithms(cfg.addr())
	}
	check := func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err := inner(hostname, remote, key)
		if err == nil {
			return nil
		}
		if err != errUnknown && !knownhosts.IsHostUnknown(err) && !knownhosts.IsHostKeyChanged(err) {
			return fmt.Errorf("%w: %s: %w", conn.ErrHostKey, hostname, err)
		}
		return &HostKeyError{
			Host: hostname, Key: key, Files: files,
			Changed:     knownhosts.IsHostKeyChanged(err),
			Fingerprint: ssh.FingerprintSHA256(key),
		}
	}
	return check, algos, nil
}

var errUnknown = errors.New("unknown host")

func splitHostPort(hp string) (string, string) {
	h, p, err := net.SplitHostPort(hp)
	if err != nil {
		return hp, strconv.Itoa(22)
	}
	return h, p
}
