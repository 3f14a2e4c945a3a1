// Package ssh implements conn.Conn over one OpenSSH connection per host:
// commands run in sessions, files move over one lazily opened SFTP client,
// and network dials go through direct-tcpip channels.
package ssh

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	sshconfig "github.com/kevinburke/ssh_config"
)

// Config says how to reach and authenticate to one host. Zero values take
// OpenSSH's defaults, so a Config with only Host set behaves like `ssh host`.
type Config struct {
	Host string
	Port int    // 0: the ssh_config Port, else 22
	User string // "": the ssh_config User, else the local user

	// KeyFiles are private keys to offer, besides those in ssh-agent. When
	// empty, OpenSSH's default identities in ~/.ssh are tried if present.
	KeyFiles []string
	// NoAgent skips ssh-agent even when SSH_AUTH_SOCK is set.
	NoAgent bool
	// Password enables password and keyboard-interactive authentication.
	Password string

	// ConnectTimeout bounds the TCP connect and the SSH handshake; 0 means 10s.
	ConnectTimeout time.Duration
	// KeepAliveInterval is how often keepalive@openssh.com is sent; 0 means
	// 15s, negative disables keepalives. After KeepAliveCountMax unanswered
	// probes (0 means 3) the connection is closed and reported lost.
	KeepAliveInterval time.Duration
	KeepAliveCountMax int

	// Bastion, when set, is dialed first and this host is reached through
	// it, like OpenSSH's ProxyJump.
	Bastion *Config

	// KnownHostsFiles are checked besides ~/.ssh/known_hosts (unless
	// NoUserKnownHosts). Files that do not exist are ignored.
	KnownHostsFiles  []string
	NoUserKnownHosts bool
	// InsecureIgnoreHostKey turns host key verification off. It exists for
	// throwaway hosts and must be asked for explicitly.
	InsecureIgnoreHostKey bool

	// SSHConfigFile names an OpenSSH client config (usually ~/.ssh/config,
	// see DefaultSSHConfigFile) whose HostName, Port, User, IdentityFile and
	// ProxyJump fill fields this Config leaves empty. "" reads none.
	SSHConfigFile string

	// MaxSessions caps concurrent command sessions on the connection; sshd
	// refuses more than its MaxSessions (default 10), and SFTP takes one.
	// 0 means 8.
	MaxSessions int

	// HostLock takes the host's gpuctl lock (hostlock.go) for the
	// connection's lifetime, so that a second run against the host is
	// refused with the first one's name. A bastion is never locked.
	HostLock bool
	// CommandServer runs commands through one process on the host
	// (cmdserver.go) instead of a session each, where the host has perl.
	CommandServer bool

	Logger *slog.Logger
}

// DefaultSSHConfigFile is the user's OpenSSH client config, or "" when the
// home directory is unknown.
func DefaultSSHConfigFile() string {
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".ssh", "config")
}

// resolved is a Config with every default filled in.
type resolved struct {
	Config
	alias string // the name the user gave, for messages and ssh_config
}

func (c *resolved) addr() string { return net.JoinHostPort(c.Host, strconv.Itoa(c.Port)) }

// name is how errors identify the host: user@host:port.
func (c *resolved) name() string { return c.User + "@" + c.addr() }

func resolve(cfg Config) (*resolved, error) {
	if cfg.Host == "" {
		return nil, errors.New("ssh: no host given")
	}
	r := &resolved{Config: cfg, alias: cfg.Host}
	if cfg.SSHConfigFile != "" {
		if err := r.applySSHConfig(cfg.SSHConfigFile); err != nil {
			return nil, err
		}
	}
	if r.Port == 0 {
		r.Port = 22
	}
	if r.Port < 0 || r.Port > 65535 {
		return nil, fmt.Errorf("ssh: %s: invalid port %d", r.Host, r.Port)
	}
	if r.User == "" {
		u, err := user.Current()
		if err != nil {
			return nil, fmt.Errorf("ssh: %s: no user given and the local user is unknown: %w", r.Host, err)
		}
		r.User = u.Username
	}
	if r.ConnectTimeout <= 0 {
		r.ConnectTimeout = 10 * time.Second
	}
	if r.KeepAliveInterval == 0 {
		r.KeepAliveInterval = 15 * time.Second
	}
	if r.KeepAliveCountMax <= 0 {
		r.KeepAliveCountMax = 3
	}
	if r.MaxSessions <= 0 {
		r.MaxSessions = 8
	}
	if r.Logger == nil {
		r.Logger = slog.Default()
	}
	for i, f := range r.KeyFiles {
		r.KeyFiles[i] = expandHome(f)
	}
	if r.Bastion != nil && r.Bastion.Logger == nil {
		b := *r.Bastion
		b.Logger = r.Logger
		r.Bastion = &b
	}
	return r, nil
}

// applySSHConfig fills empty fields from an OpenSSH client config the way
// `ssh alias` would. A missing file is not an error: it is the common case.
func (r *resolved) applySSHConfig(path string) error {
	f, err := os.Open(expandHome(path))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("ssh: read %s: %w", path, err)
	}
	defer f.Close()
	sc, err := sshconfig.Decode(f)
	if err != nil {
		return fmt.Errorf("ssh: parse %s: %w", path, err)
	}
	get := func(key string) string {
		v, _ := sc.Get(r.alias, key)
		return v
	}
	if hn := get("HostName"); hn != "" {
		r.Host = strings.ReplaceAll(hn, "%h", r.alias)
	}
	if r.Port == 0 {
		if p := get("Port"); p != "" {
			n, err := strconv.Atoi(p)
			if err != nil {
				return fmt.Errorf("ssh: %s: Port %q for %s: %w", path, p, r.alias, err)
			}
			r.Port = n
		}
	}
	if r.User == "" {
		r.User = get("User")
	}
	if len(r.KeyFiles) == 0 {
		ids, _ := sc.GetAll(r.alias, "IdentityFile")
		for _, id := range ids {
			// The library reports OpenSSH's implicit default; we have our own.
			if id != "" && id != "~/.ssh/identity" {
				r.KeyFiles = append(r.KeyFiles, id)
			}
		}
	}
	if r.Bastion == nil {
		if pj := get("ProxyJump"); pj != "" && !strings.EqualFold(pj, "none") {
			b, err := parseJump(pj, r.Config)
			if err != nil {
				return fmt.Errorf("ssh: %s: ProxyJump for %s: %w", path, r.alias, err)
			}
			r.Bastion = b
		}
	}
	return nil
}

// parseJump turns "[user@]host[:port][,next...]" into a bastion Config that
// authenticates like the target. Only the first hop of a chain is direct;
// later hops go through the earlier ones.
func parseJump(spec string, like Config) (*Config, error) {
	var bastion *Config
	for _, hop := range strings.Split(spec, ",") {
		hop = strings.TrimPrefix(strings.TrimSpace(hop), "ssh://")
		b := Config{
			KeyFiles: like.KeyFiles, NoAgent: like.NoAgent,
			ConnectTimeout: like.ConnectTimeout, KeepAliveInterval: like.KeepAliveInterval,
			KnownHostsFiles: like.KnownHostsFiles, NoUserKnownHosts: like.NoUserKnownHosts,
			InsecureIgnoreHostKey: like.InsecureIgnoreHostKey,
			SSHConfigFile:         like.SSHConfigFile, Logger: like.Logger,
			Bastion: bastion,
		}
		if at := strings.LastIndex(hop, "@"); at >= 0 {
			b.User, hop = hop[:at], hop[at+1:]
		}
		b.Host = hop
		if h, p, err := net.SplitHostPort(hop); err == nil {
			n, err := strconv.Atoi(p)
			if err != nil {
				return nil, fmt.Errorf("bad port in %q", hop)
			}
			b.Host, b.Port = h, n
		}
		if b.Host == "" {
			return nil, fmt.Errorf("empty host in %q", spec)
		}
		bastion = &b
	}
	return bastion, nil
}

func expandHome(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, p[1:])
		}
	}
	return p
}
