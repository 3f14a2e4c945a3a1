package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gpuctl/gpuctl/conn/ssh"
)

// applyKeepAlive sets how long a silent host is waited for: OpenSSH's
// ServerAliveInterval and ServerAliveCountMax from ansible_ssh_args,
// ansible_ssh_common_args or ansible_ssh_extra_args (as Ansible users
// already write them), overridden by gpuctl_ssh_keepalive_interval and
// gpuctl_ssh_keepalive_count_max. A host whose sshd stalls (PAM after a
// burst of logins) needs a larger budget than the 15s x 3 default.
func applyKeepAlive(cfg *ssh.Config, get func(keys ...string) string) error {
	for _, args := range []string{get("ansible_ssh_args"), get("ansible_ssh_common_args"), get("ansible_ssh_extra_args")} {
		if v := sshOption(args, "ServerAliveInterval"); v != "" {
			d, err := parseSeconds(v)
			if err != nil {
				return fmt.Errorf("ServerAliveInterval %q: %w", v, err)
			}
			cfg.KeepAliveInterval = d
		}
		if v := sshOption(args, "ServerAliveCountMax"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return fmt.Errorf("ServerAliveCountMax %q: want a positive number", v)
			}
			cfg.KeepAliveCountMax = n
		}
	}
	if v := get("gpuctl_ssh_keepalive_interval"); v != "" {
		d, err := parseSeconds(v)
		if err != nil {
			return fmt.Errorf("gpuctl_ssh_keepalive_interval %q: %w", v, err)
		}
		cfg.KeepAliveInterval = d
	}
	if v := get("gpuctl_ssh_keepalive_count_max"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fmt.Errorf("gpuctl_ssh_keepalive_count_max %q: want a positive number", v)
		}
		cfg.KeepAliveCountMax = n
	}
	return nil
}

// sshOption finds "-o Name=value", "-oName=value" or "-o Name value" in
// ssh arguments; OpenSSH matches option names case-insensitively.
func sshOption(args, name string) string {
	f := strings.Fields(args)
	for i := 0; i < len(f); i++ {
		a := f[i]
		switch {
		case a == "-o" && i+1 < len(f):
			i++
			a = f[i]
		case strings.HasPrefix(a, "-o"):
			a = a[2:]
		default:
			continue
		}
		k, v, ok := strings.Cut(a, "=")
		if !ok && i+1 < len(f) && strings.EqualFold(a, name) {
			k, v, ok = a, f[i+1], true
		}
		if ok && strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// parseSeconds reads a number of seconds (as OpenSSH takes it) or a Go
// duration ("30s", "2m"); 0 turns keepalives off, as in OpenSSH.
func parseSeconds(v string) (time.Duration, error) {
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		if n == 0 {
			return -1, nil
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("want seconds or a duration such as 30s")
	}
	if d == 0 {
		return -1, nil
	}
	return d, nil
}
