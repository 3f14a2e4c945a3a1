package cli

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/conn/ssh"
	"github.com/gpuctl/gpuctl/inventory"
	"github.com/gpuctl/gpuctl/template"
)

// sshConnector turns Ansible's connection variables into an SSH dial.
type sshConnector struct {
	timeout time.Duration
	gate    *dialGate // dialgate.go: handshakes in flight per sshd
	// defaults are --private-key and the ssh argument flags, for hosts
	// whose variables do not set them (ansibleflags.go)
	defaults connDefaults
}

// hostKeyCheckingOff reads the explicit opt-outs: the inventory variable
// (ansible_host_key_checking or gpuctl_host_key_checking) or the
// environment (GPUCTL_HOST_KEY_CHECKING or ANSIBLE_HOST_KEY_CHECKING).
func hostKeyCheckingOff(vars map[string]any) bool {
	for _, k := range []string{"gpuctl_host_key_checking", "ansible_host_key_checking", "ansible_ssh_host_key_checking"} {
		if v, ok := vars[k]; ok {
			return !template.Truthy(v)
		}
	}
	for _, k := range []string{"GPUCTL_HOST_KEY_CHECKING", "ANSIBLE_HOST_KEY_CHECKING"} {
		if v, ok := os.LookupEnv(k); ok {
			return !template.Truthy(v)
		}
	}
	return false
}

// SSHConfigFor builds the SSH configuration of a host from its variables.
func SSHConfigFor(h *inventory.Host, vars map[string]any, timeout time.Duration) (ssh.Config, error) {
	get := func(keys ...string) string {
		for _, k := range keys {
			if v, ok := vars[k]; ok && v != nil {
				return fmt.Sprint(v)
			}
		}
		return ""
	}
	cfg := ssh.Config{
		Host:           firstOf(get("ansible_host", "ansible_ssh_host", "gpuctl_host"), h.Name),
		User:           get("ansible_user", "ansible_ssh_user", "gpuctl_user"),
		Password:       get("ansible_password", "ansible_ssh_pass"),
		ConnectTimeout: timeout,
		SSHConfigFile:  ssh.DefaultSSHConfigFile(),
	}
	if p := get("ansible_port", "ansible_ssh_port", "gpuctl_port"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil {
			return cfg, fmt.Errorf("ansible_port %q is not a number", p)
		}
		cfg.Port = n
	}
	if k := get("ansible_ssh_private_key_file", "ansible_private_key_file", "gpuctl_private_key_file"); k != "" {
		cfg.KeyFiles = []string{k}
	}
	switch v := vars["gpuctl_known_hosts"].(type) {
	case string:
		cfg.KnownHostsFiles = []string{v}
	case []any:
		for _, x := range v {
			cfg.KnownHostsFiles = append(cfg.KnownHostsFiles, fmt.Sprint(x))
		}
	}
	if f := get("ansible_ssh_known_hosts_file"); f != "" {
		cfg.KnownHostsFiles = append(cfg.KnownHostsFiles, f)
	}
	cfg.InsecureIgnoreHostKey = hostKeyCheckingOff(vars)
	sshArgs := []string{get("ansible_ssh_args"), get("ansible_ssh_common_args"), get("ansible_ssh_extra_args")}
	if err := applyHostKeyArgs(&cfg, sshArgs...); err != nil {
		return cfg, fmt.Errorf("host %s: %w", h.Name, err)
	}
	// One run at a time per host, unless the inventory says otherwise.
	cfg.HostLock = vars["gpuctl_host_lock"] == nil || template.Truthy(vars["gpuctl_host_lock"])
	// Commands through one process on the host rather than a session each
	// (conn/ssh/cmdserver.go), unless the inventory says otherwise.
	cfg.CommandServer = vars["gpuctl_command_server"] == nil || template.Truthy(vars["gpuctl_command_server"])
	if err := applyKeepAlive(&cfg, get); err != nil {
		return cfg, fmt.Errorf("host %s: %w", h.Name, err)
	}
	if j := firstOf(get("gpuctl_bastion", "ansible_ssh_bastion"), jumpFromArgs(sshArgs[1]), jumpFromArgs(sshArgs[2])); j != "" {
		b, err := parseHop(j, cfg)
		if err != nil {
			return cfg, err
		}
		cfg.Bastion = b
	}
	return cfg, nil
}

// jumpFromArgs finds "-o ProxyJump=x" or "-J x" in ssh arguments.
func jumpFromArgs(args string) string {
	f := strings.Fields(args)
	for i, a := range f {
		switch {
		case a == "-J" && i+1 < len(f):
			return f[i+1]
		case strings.HasPrefix(a, "ProxyJump="):
			return strings.TrimPrefix(a, "ProxyJump=")
		case strings.HasPrefix(a, "-oProxyJump="):
			return strings.TrimPrefix(a, "-oProxyJump=")
		}
	}
	return ""
}

// parseHop reads user@host:port; the bastion inherits keys and host key
// settings from the target.
func parseHop(spec string, like ssh.Config) (*ssh.Config, error) {
	b := &ssh.Config{KeyFiles: like.KeyFiles, KnownHostsFiles: like.KnownHostsFiles,
		InsecureIgnoreHostKey: like.InsecureIgnoreHostKey, NoUserKnownHosts: like.NoUserKnownHosts, ConnectTimeout: like.ConnectTimeout, User: like.User}
	hostport := spec
	if u, rest, ok := strings.Cut(spec, "@"); ok {
		b.User, hostport = u, rest
	}
	b.Host = hostport
	if i := strings.LastIndex(hostport, ":"); i > 0 && !strings.Contains(hostport[i+1:], "]") {
		p, err := strconv.Atoi(hostport[i+1:])
		if err != nil {
			return nil, fmt.Errorf("bastion %q: bad port", spec)
		}
		b.Host, b.Port = strings.Trim(hostport[:i], "[]"), p
	}
	return b, nil
}

func firstOf(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

func (s sshConnector) Connect(ctx context.Context, h *inventory.Host, vars map[string]any) (conn.Conn, error) {
	cfg, err := SSHConfigFor(h, s.defaults.apply(vars), s.timeout)
	if err != nil {
		return nil, err
	}
	release, err := s.gate.enter(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer release()
	return ssh.Dial(ctx, cfg)
}
