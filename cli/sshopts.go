package cli

import (
	"fmt"
	"slices"
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

// honouredSSHOptions are the OpenSSH -o options gpuctl's SSH client (not
// OpenSSH) acts on when they appear in ansible_ssh_args,
// ansible_ssh_common_args, ansible_ssh_extra_args or the
// --ssh-common-args/--ssh-extra-args flags (-J too).
var honouredSSHOptions = []string{"ProxyJump", "ServerAliveInterval", "ServerAliveCountMax", "StrictHostKeyChecking", "UserKnownHostsFile"}

// sshOptionHints say what to use instead of an OpenSSH option gpuctl's
// client cannot honour.
var sshOptionHints = map[string]string{
	"proxycommand":   "use -J or -o ProxyJump=user@bastion",
	"controlmaster":  "gpuctl keeps one connection per host for the whole run; drop it",
	"controlpersist": "gpuctl keeps one connection per host for the whole run; drop it",
	"controlpath":    "gpuctl keeps one connection per host for the whole run; drop it",
	"connecttimeout": "use -T/--timeout",
	"port":           "use ansible_port",
	"user":           "use -u/--user or ansible_user",
	"identityfile":   "use --private-key or ansible_ssh_private_key_file",
}

// checkSSHArgs refuses what --ssh-common-args/--ssh-extra-args (flag) say
// that gpuctl's SSH client would not do, so that nothing is silently
// ignored.
func checkSSHArgs(flag, args string) error {
	words, err := splitShell(args)
	if err != nil {
		return fmt.Errorf("%s: %w", flag, err)
	}
	for i := 0; i < len(words); i++ {
		a := words[i]
		var spec string
		switch {
		case a == "-J" || a == "-o":
			if i+1 >= len(words) {
				return fmt.Errorf("%s: %s needs a value", flag, a)
			}
			i++
			if a == "-J" {
				continue
			}
			spec = words[i]
		case strings.HasPrefix(a, "-J"):
			continue
		case strings.HasPrefix(a, "-o"):
			spec = a[2:]
		default:
			return fmt.Errorf("%s: gpuctl's SSH client (not OpenSSH) cannot honour %q; it takes -J and -o with %s", flag, a, strings.Join(honouredSSHOptions, ", "))
		}
		name, value, ok := strings.Cut(spec, "=")
		if !ok {
			name, value, ok = strings.Cut(strings.TrimSpace(spec), " ")
		}
		if !ok && i+1 < len(words) { // "-o Name value", as sshOption reads it
			i++
			value, ok = words[i], true
		}
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		known := slices.ContainsFunc(honouredSSHOptions, func(o string) bool { return strings.EqualFold(o, name) })
		if !known {
			hint := sshOptionHints[strings.ToLower(name)]
			if hint == "" {
				hint = "it takes -J and -o with " + strings.Join(honouredSSHOptions, ", ")
			}
			return fmt.Errorf("%s: gpuctl's SSH client (not OpenSSH) cannot honour -o %s: %s", flag, name, hint)
		}
		if !ok || value == "" {
			return fmt.Errorf("%s: -o %s needs a value", flag, name)
		}
		if err := checkSSHOptionValue(name, value); err != nil {
			return fmt.Errorf("%s: -o %s=%s: %w", flag, name, value, err)
		}
	}
	return nil
}

func checkSSHOptionValue(name, value string) error {
	switch strings.ToLower(name) {
	case "serveraliveinterval":
		_, err := parseSeconds(value)
		return err
	case "serveralivecountmax":
		if n, err := strconv.Atoi(value); err != nil || n < 1 {
			return fmt.Errorf("want a positive number")
		}
	case "stricthostkeychecking":
		if _, err := strictHostKeyChecking(value); err != nil {
			return err
		}
	}
	return nil
}

// strictHostKeyChecking reads OpenSSH's StrictHostKeyChecking: whether
// host keys are checked. accept-new and ask need a known_hosts file that
// gpuctl would write or a prompt, which it has neither of.
func strictHostKeyChecking(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "yes", "true":
		return true, nil
	case "no", "off", "false":
		return false, nil
	}
	return true, fmt.Errorf("gpuctl takes yes or no (accept-new and ask would write known_hosts or prompt)")
}

// applyHostKeyArgs acts on StrictHostKeyChecking and UserKnownHostsFile in
// the ssh arguments, first value wins as in OpenSSH (Ansible puts
// ansible_ssh_args, then the common, then the extra arguments on ssh's
// command line).
func applyHostKeyArgs(cfg *ssh.Config, argLists ...string) error {
	if v := firstSSHOption("StrictHostKeyChecking", argLists...); v != "" {
		check, err := strictHostKeyChecking(v)
		if err != nil {
			return fmt.Errorf("StrictHostKeyChecking %q: %w", v, err)
		}
		if !check {
			cfg.InsecureIgnoreHostKey = true
		}
	}
	if v := firstSSHOption("UserKnownHostsFile", argLists...); v != "" {
		// OpenSSH reads these files instead of ~/.ssh/known_hosts.
		cfg.NoUserKnownHosts = true
		for _, f := range strings.Fields(v) {
			if f != "/dev/null" && f != "none" {
				cfg.KnownHostsFiles = append(cfg.KnownHostsFiles, f)
			}
		}
	}
	return nil
}

func firstSSHOption(name string, argLists ...string) string {
	for _, args := range argLists {
		if v := sshOption(args, name); v != "" {
			return v
		}
	}
	return ""
}

// splitShell splits ssh arguments as a POSIX shell (and Ansible's
// shlex.split) would: blanks separate words, quotes group them.
func splitShell(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for i := 0; i < len(s); i++ {
		c := rune(s[i])
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			} else if c == '\\' && quote == '"' && i+1 < len(s) {
				i++
				cur.WriteByte(s[i])
			} else {
				cur.WriteByte(s[i])
			}
		case c == '\'' || c == '"':
			quote, inWord = c, true
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			inWord = true
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(s[i])
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote", quote)
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out, nil
}
