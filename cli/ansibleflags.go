package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// connectionFlags are ansible-playbook's connection and privilege
// escalation flags (-c, -u, --private-key, --ssh-common-args,
// --ssh-extra-args, -b, --become-user, --become-method). As in Ansible
// they are the lowest layer: inventory variables (ansible_connection,
// ansible_user, ansible_ssh_private_key_file, ansible_ssh_common_args,
// ansible_become, ansible_become_user, ...), play and task variables and
// the keywords (connection, remote_user, become, become_user) override
// them; only -e is above everything. Each is consulted where its
// variable is: the engine (engine.Options.Default*) for the connection
// type, user and become, the SSH connector (connDefaults) for the key and
// the ssh arguments.
type connectionFlags struct {
	connection    string
	user          string
	privateKey    string
	sshCommonArgs string
	sshExtraArgs  string
	become        bool
	becomeUser    string
	becomeMethod  string
}

func (f *connectionFlags) add(fs *pflag.FlagSet) {
	fs.StringVarP(&f.connection, "connection", "c", "", "connection type: ssh (the default; smart and paramiko mean ssh) or local; a host's ansible_connection and the play's connection: win")
	fs.StringVarP(&f.user, "user", "u", "", "SSH user for hosts whose ansible_user and play remote_user name none")
	fs.StringVar(&f.privateKey, "private-key", "", "SSH private key (also --key-file) for hosts whose ansible_ssh_private_key_file is unset")
	fs.StringVar(&f.privateKey, "key-file", "", "same as --private-key")
	_ = fs.MarkHidden("key-file")
	fs.StringVar(&f.sshCommonArgs, "ssh-common-args", "", "ssh arguments for hosts without ansible_ssh_common_args; gpuctl's SSH client honours -J and -o ProxyJump, ServerAliveInterval, ServerAliveCountMax, StrictHostKeyChecking, UserKnownHostsFile (others are an error)")
	fs.StringVar(&f.sshExtraArgs, "ssh-extra-args", "", "as --ssh-common-args, for hosts without ansible_ssh_extra_args")
	fs.BoolVarP(&f.become, "become", "b", false, "become (sudo) on hosts and tasks that do not say otherwise (ansible_become, become:)")
	fs.StringVar(&f.becomeUser, "become-user", "", "user to become where ansible_become_user and become_user name none (default root); does not turn become on")
	fs.StringVar(&f.becomeMethod, "become-method", "sudo", "privilege escalation method: only sudo")
}

// validate checks the values before anything is loaded.
func (f *connectionFlags) validate() error {
	switch f.connection {
	case "", "ssh", "smart", "paramiko", "local":
	default:
		return fmt.Errorf("-c/--connection %q: gpuctl connects over ssh or local (smart and paramiko mean ssh)", f.connection)
	}
	switch f.becomeMethod {
	case "", "sudo":
	case "su":
		return fmt.Errorf("--become-method su: gpuctl becomes another user only through sudo")
	default:
		return fmt.Errorf("--become-method %q: gpuctl becomes another user only through sudo", f.becomeMethod)
	}
	if strings.ContainsAny(f.becomeUser, " \t\n'\"\\$`;&|<>") {
		return fmt.Errorf("--become-user %q is not a valid user name", f.becomeUser)
	}
	if err := checkSSHArgs("--ssh-common-args", f.sshCommonArgs); err != nil {
		return err
	}
	return checkSSHArgs("--ssh-extra-args", f.sshExtraArgs)
}

// defaultConnection is what -c asks of the engine: "local", or "" for ssh
// (what gpuctl does anyway).
func (f *connectionFlags) defaultConnection() string {
	if f.connection == "local" {
		return "local"
	}
	return ""
}

// connDefaults are the connector's share of the flags.
func (f *connectionFlags) connDefaults() connDefaults {
	return connDefaults{privateKey: f.privateKey, sshCommonArgs: f.sshCommonArgs, sshExtraArgs: f.sshExtraArgs}
}

// connDefaults are the command line's SSH settings, used for a host whose
// variables (inventory, play vars, -e) do not set them, as in Ansible.
type connDefaults struct {
	privateKey    string
	sshCommonArgs string
	sshExtraArgs  string
}

// apply returns vars with the defaults filled in where unset; vars itself
// is not changed.
func (d connDefaults) apply(vars map[string]any) map[string]any {
	if d == (connDefaults{}) {
		return vars
	}
	out := make(map[string]any, len(vars)+3)
	for k, v := range vars {
		out[k] = v
	}
	unset := func(keys ...string) bool {
		for _, k := range keys {
			if v, ok := vars[k]; ok && v != nil {
				return false
			}
		}
		return true
	}
	if d.privateKey != "" && unset("ansible_ssh_private_key_file", "ansible_private_key_file", "gpuctl_private_key_file") {
		out["ansible_ssh_private_key_file"] = d.privateKey
	}
	if d.sshCommonArgs != "" && unset("ansible_ssh_common_args") {
		out["ansible_ssh_common_args"] = d.sshCommonArgs
	}
	if d.sshExtraArgs != "" && unset("ansible_ssh_extra_args") {
		out["ansible_ssh_extra_args"] = d.sshExtraArgs
	}
	return out
}

// playbookFlags are ansible-playbook's flags about what to do with the
// playbook: the listings and syntax check, and the run controls gpuctl
// accepts or refuses by name.
type playbookFlags struct {
	listHosts, listTasks, listTags, syntaxCheck bool
	flushCache, forceHandlers, step             bool
	startAtTask                                 string
}

func (f *playbookFlags) add(fs *pflag.FlagSet) {
	fs.BoolVar(&f.listHosts, "list-hosts", false, "print each play's hosts and exit; nothing runs, no host is contacted")
	fs.BoolVar(&f.listTasks, "list-tasks", false, "print each play's tasks with their tags (after --tags/--skip-tags) and exit")
	fs.BoolVar(&f.listTags, "list-tags", false, "print each play's tags and exit")
	fs.BoolVar(&f.syntaxCheck, "syntax-check", false, "load the playbook and inventory, report errors, and exit")
	fs.BoolVar(&f.flushCache, "flush-cache", false, "accepted: gpuctl keeps no fact cache between runs, every run gathers facts afresh")
	fs.BoolVar(&f.forceHandlers, "force-handlers", false, "not supported yet (an error): handlers of a failed host do not run")
	fs.StringVar(&f.startAtTask, "start-at-task", "", "not supported yet (an error)")
	fs.BoolVar(&f.step, "step", false, "not supported yet (an error)")
}

// listing reports whether the run only prints (lists or checks syntax).
func (f *playbookFlags) listing() bool {
	return f.listHosts || f.listTasks || f.listTags || f.syntaxCheck
}

func (f *playbookFlags) validate() error {
	switch {
	case f.forceHandlers:
		return fmt.Errorf("--force-handlers is not supported: gpuctl's engine does not run the handlers of a host that failed (nor the force_handlers play keyword)")
	case f.startAtTask != "":
		return fmt.Errorf("--start-at-task is not supported yet: use --tags, or --limit @FILE / --retry-failed to resume a run")
	case f.step:
		return fmt.Errorf("--step is not supported yet: use --check --diff to see what each task would do")
	}
	return nil
}

// secondsValue is a duration flag that also takes a bare number of
// seconds, as Ansible's -T/--timeout does ("-T 30" and "--timeout 30s").
type secondsValue struct{ d *time.Duration }

func newSecondsValue(p *time.Duration, def time.Duration) secondsValue {
	*p = def
	return secondsValue{p}
}

func (s secondsValue) Set(v string) error {
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return fmt.Errorf("want seconds or a duration such as 30s")
		}
		*s.d = time.Duration(n) * time.Second
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return fmt.Errorf("want seconds or a duration such as 30s")
	}
	*s.d = d
	return nil
}

func (s secondsValue) String() string {
	if s.d == nil {
		return ""
	}
	return s.d.String()
}

func (s secondsValue) Type() string { return "duration" }
