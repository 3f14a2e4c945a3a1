package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/conn/local"
	"github.com/gpuctl/gpuctl/engine"
	"github.com/gpuctl/gpuctl/inventory"
	_ "github.com/gpuctl/gpuctl/modules/all"
)

// parseRun parses run's flags as the command line would, and validates
// them.
func parseRun(t *testing.T, args ...string) (*runOptions, error) {
	t.Helper()
	o, cmd := newRun(IO{In: strings.NewReader(""), Out: &bytes.Buffer{}, Err: &bytes.Buffer{}})
	if err := cmd.ParseFlags(args); err != nil {
		return nil, err
	}
	return o, o.Validate()
}

func TestAnsiblePlaybookFlags(t *testing.T) {
	o, err := parseRun(t, "-c", "local", "-u", "deploy", "--key-file", "/k/id", "-b", "--become-user", "alice",
		"--become-method", "sudo", "-T", "30", "--ssh-common-args", "-o StrictHostKeyChecking=no -J jump@b:2200",
		"--ssh-extra-args", "-o ServerAliveInterval=5", "--flush-cache")
	if err != nil {
		t.Fatal(err)
	}
	c := o.connFlags
	if c.defaultConnection() != "local" || c.user != "deploy" || c.privateKey != "/k/id" || !c.become || c.becomeUser != "alice" || o.connectTimeout != 30*time.Second {
		t.Fatalf("parsed %+v, timeout %s", c, o.connectTimeout)
	}
	if d := c.connDefaults(); d.sshCommonArgs != "-o StrictHostKeyChecking=no -J jump@b:2200" || d.sshExtraArgs != "-o ServerAliveInterval=5" {
		t.Fatalf("ssh args %+v", d)
	}
	// The connect timeout keeps gpuctl's duration form and default.
	for args, want := range map[string]time.Duration{"--timeout=1m": time.Minute, "--timeout=45": 45 * time.Second, "": 15 * time.Second} {
		o, err := parseRun(t, strings.Fields(args)...)
		if err != nil || o.connectTimeout != want {
			t.Errorf("%q: timeout %s, %v; want %s", args, o.connectTimeout, err, want)
		}
	}
	// smart and paramiko are ansible-playbook's names for what gpuctl's ssh does.
	for _, c := range []string{"ssh", "smart", "paramiko"} {
		if o, err := parseRun(t, "-c", c); err != nil || o.connFlags.defaultConnection() != "" {
			t.Errorf("-c %s: %v", c, err)
		}
	}
	for _, tc := range []struct{ args, want string }{
		{"-c docker", `-c/--connection "docker": gpuctl connects over ssh or local`},
		{"--become-method su", "--become-method su: gpuctl becomes another user only through sudo"},
		{"--become-method doas", `--become-method "doas"`},
		{"--ssh-common-args=-oProxyCommand=nc", "--ssh-common-args: gpuctl's SSH client (not OpenSSH) cannot honour -o ProxyCommand: use -J"},
		{"--ssh-extra-args=-R", `--ssh-extra-args: gpuctl's SSH client (not OpenSSH) cannot honour "-R"`},
		{"--ssh-common-args=-oStrictHostKeyChecking=accept-new", "StrictHostKeyChecking=accept-new: gpuctl takes yes or no"},
		{"--force-handlers", "--force-handlers is not supported"},
		{"--start-at-task=x", "--start-at-task is not supported yet"},
		{"--step", "--step is not supported yet"},
		{"-T soon", "invalid argument"},
	} {
		_, err := parseRun(t, strings.Fields(tc.args)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.args, err, tc.want)
		}
	}
}

// dialLog records what the engine asked of the transports.
type dialLog struct {
	mu       sync.Mutex
	ssh      bool     // the SSH connector was used (not the local connection)
	user     string   // the SSH user it would log in as
	keys     []string // the keys it would offer
	becomeAs []string // the users tasks ran as through become
}

// recordingConnector is sshConnector's variable handling (its defaults
// and SSHConfigFor) without the dial: it logs the configuration and runs
// commands locally.
type recordingConnector struct {
	defaults connDefaults
	log      *dialLog
}

func (r recordingConnector) Connect(ctx context.Context, h *inventory.Host, vars map[string]any) (conn.Conn, error) {
	cfg, err := SSHConfigFor(h, r.defaults.apply(vars), time.Second)
	if err != nil {
		return nil, err
	}
	r.log.mu.Lock()
	defer r.log.mu.Unlock()
	r.log.ssh, r.log.user, r.log.keys = true, cfg.User, cfg.KeyFiles
	return local.New(), nil
}

// runRecorded runs play (its keywords, then one command task with
// taskKeywords) against host h1 of an INI inventory line, with the flags
// args, and logs how it connects and becomes.
func runRecorded(t *testing.T, hostLine, playKeywords, taskKeywords string, args []string) *dialLog {
	t.Helper()
	dir := t.TempDir()
	inv, pb := filepath.Join(dir, "inv.ini"), filepath.Join(dir, "pb.yml")
	os.WriteFile(inv, []byte("[t]\nh1 ansible_host=192.0.2.1 "+hostLine+"\n"), 0o644)
	os.WriteFile(pb, []byte("- hosts: all\n  gather_facts: false\n"+playKeywords+"  tasks:\n    - command: \"true\"\n"+taskKeywords), 0o644)
	o, err := parseRun(t, append(args, "-i", inv)...)
	if err != nil {
		t.Fatal(err)
	}
	o.playbook = pb
	cmd := newRunCmd(o.io)
	cmd.SetContext(context.Background())
	if err := o.Complete(cmd); err != nil {
		t.Fatal(err)
	}
	log := &dialLog{}
	opt := o.engineOptions(engine.ReporterFunc(func(engine.Event) {}))
	opt.Connector = recordingConnector{defaults: o.connFlags.connDefaults(), log: log}
	opt.Become = func(c conn.Conn, user, _ string) conn.Conn {
		log.mu.Lock()
		defer log.mu.Unlock()
		log.becomeAs = append(log.becomeAs, user)
		return c
	}
	if _, err := engine.New(o.inv, opt).Run(context.Background(), o.pb); err != nil {
		t.Fatal(err)
	}
	return log
}

// TestCommandLineIsTheLowestLayer checks where -u, --private-key, -c, -b
// and --become-user sit among inventory variables, play variables, play
// and task keywords and -e. Every expectation was first observed with
// ansible-playbook 2.14.18 on the same inventory line and keywords, run
// against a test host (test/hosts, users deploy and alice) with the raw
// module printing $(id -un)@$(hostname), and ANSIBLE_SSH_ARGS="-o
// ControlMaster=no" so that no connection was reused between runs:
//
//	-u deploy                                   -> deploy
//	-u deploy, inventory ansible_user=alice     -> alice
//	-u deploy, play remote_user: alice          -> alice
//	-u deploy, ansible_user=root + remote_user: alice -> root
//	-u deploy, ansible_user=root, -e ansible_user=alice -> alice
//	-u deploy, play vars ansible_user: alice    -> alice
//	--private-key BAD, ansible_ssh_private_key_file=GOOD -> logs in; swapped: "no such identity", refused
//	-c ssh, inventory ansible_connection=local  -> runs on the controller
//	-c local, play connection: ssh              -> runs on the host
//	-c local, inventory ansible_connection=ssh  -> runs on the host
//	-c local                                    -> runs on the controller
//	-b                                          -> root
//	-b, inventory ansible_become=false          -> deploy
//	-b, play become: false                      -> deploy
//	-b, task become: false                      -> deploy
//	-b --become-user alice                      -> alice
//	--become-user alice (no -b)                 -> deploy
//	-b --become-user alice, play become_user: root -> root
//	-b --become-user alice, inventory ansible_become_user=root -> root
//	-b --become-user root, play vars ansible_become_user: alice -> alice
func TestCommandLineIsTheLowestLayer(t *testing.T) {
	for _, tc := range []struct {
		name             string
		host, play, task string
		args             []string
		ssh              bool
		user             string
		keys             []string
		becomeAs         []string
	}{
		{name: "-u", args: []string{"-u", "deploy"}, ssh: true, user: "deploy"},
		{name: "inventory ansible_user over -u", host: "ansible_user=alice", args: []string{"-u", "deploy"}, ssh: true, user: "alice"},
		{name: "remote_user over -u", play: "  remote_user: alice\n", args: []string{"-u", "deploy"}, ssh: true, user: "alice"},
		{name: "inventory ansible_user over remote_user", host: "ansible_user=root", play: "  remote_user: alice\n", args: []string{"-u", "deploy"}, ssh: true, user: "root"},
		{name: "-e over all", host: "ansible_user=root", args: []string{"-u", "deploy", "-e", "ansible_user=alice"}, ssh: true, user: "alice"},
		// play vars outrank inventory variables (ansible-playbook 2.14 with
		// raw whoami on a test host: inventory ansible_user=deploy, play
		// vars ansible_user: alice -> alice)
		{name: "play vars ansible_user over inventory ansible_user", host: "ansible_user=deploy", play: "  vars: {ansible_user: alice}\n", ssh: true, user: "alice"},
		{name: "play vars over -u", play: "  vars: {ansible_user: alice}\n", args: []string{"-u", "deploy"}, ssh: true, user: "alice"},
		{name: "--private-key", args: []string{"--private-key", "/k/cli"}, ssh: true, keys: []string{"/k/cli"}},
		{name: "inventory key over --private-key", host: "ansible_ssh_private_key_file=/k/inv", args: []string{"--private-key", "/k/cli"}, ssh: true, keys: []string{"/k/inv"}},
		{name: "inventory ansible_connection=local over -c ssh", host: "ansible_connection=local", args: []string{"-c", "ssh"}},
		{name: "play connection over -c local", play: "  connection: ssh\n", args: []string{"-c", "local"}, ssh: true},
		{name: "inventory ansible_connection=ssh over -c local", host: "ansible_connection=ssh", args: []string{"-c", "local"}, ssh: true},
		{name: "-c local", args: []string{"-c", "local", "-u", "deploy"}},
		{name: "-b", args: []string{"-b"}, ssh: true, becomeAs: []string{"root"}},
		{name: "inventory ansible_become=false over -b", host: "ansible_become=false", args: []string{"-b"}, ssh: true},
		{name: "play become: false over -b", play: "  become: false\n", args: []string{"-b"}, ssh: true},
		{name: "task become: false over -b", task: "      become: false\n", args: []string{"-b"}, ssh: true},
		{name: "--become-user", args: []string{"-b", "--become-user", "alice"}, ssh: true, becomeAs: []string{"alice"}},
		{name: "--become-user alone", args: []string{"--become-user", "alice"}, ssh: true},
		{name: "play become_user over --become-user", play: "  become_user: root\n", args: []string{"-b", "--become-user", "alice"}, ssh: true, becomeAs: []string{"root"}},
		{name: "inventory ansible_become_user over --become-user", host: "ansible_become_user=root", args: []string{"-b", "--become-user", "alice"}, ssh: true, becomeAs: []string{"root"}},
		{name: "play vars ansible_become_user over --become-user", play: "  vars: {ansible_become_user: alice}\n", args: []string{"-b", "--become-user", "root"}, ssh: true, becomeAs: []string{"alice"}},
		// Variables over keywords (ansible-playbook 2.14, checked with whoami on
		// local hosts: play become: true, become_user: root with inventory
		// ansible_become_user=nobody ran as nobody; play become: false with
		// inventory ansible_become=true became; task become_user lost to the
		// inventory's ansible_become_user).
		{name: "inventory ansible_become_user over play become_user", host: "ansible_become_user=alice", play: "  become: true\n  become_user: root\n", ssh: true, becomeAs: []string{"alice"}},
		{name: "inventory ansible_become over play become: false", host: "ansible_become=true", play: "  become: false\n", ssh: true, becomeAs: []string{"root"}},
		{name: "inventory ansible_become=false over task become", host: "ansible_become=false", task: "      become: true\n", ssh: true},
		{name: "inventory ansible_become_user over task become_user", host: "ansible_become_user=alice", task: "      become: true\n      become_user: root\n", ssh: true, becomeAs: []string{"alice"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := runRecorded(t, tc.host, tc.play, tc.task, tc.args)
			if got.ssh != tc.ssh || got.user != tc.user || !slices.Equal(got.keys, tc.keys) || !slices.Equal(got.becomeAs, tc.becomeAs) {
				t.Errorf("ssh %v user %q keys %q become %q; want ssh %v user %q keys %q become %q",
					got.ssh, got.user, got.keys, got.becomeAs, tc.ssh, tc.user, tc.keys, tc.becomeAs)
			}
		})
	}
}

// The ssh argument flags are the lowest layer too: a host's
// ansible_ssh_common_args/ansible_ssh_extra_args replace them, as
// ansible-playbook's ssh plugin takes the variable over the flag.
func TestSSHArgFlagsAsDefaults(t *testing.T) {
	h := &inventory.Host{Name: "h1"}
	d := connDefaults{sshCommonArgs: "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/tmp/kh", sshExtraArgs: "-J jump@b:2200"}
	t.Setenv("GPUCTL_HOST_KEY_CHECKING", "yes")
	cfg, err := SSHConfigFor(h, d.apply(map[string]any{}), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.InsecureIgnoreHostKey || !cfg.NoUserKnownHosts || !slices.Equal(cfg.KnownHostsFiles, []string{"/tmp/kh"}) || cfg.Bastion == nil || cfg.Bastion.Host != "b" || !cfg.Bastion.NoUserKnownHosts {
		t.Fatalf("cfg %+v bastion %+v", cfg, cfg.Bastion)
	}
	vars := map[string]any{"ansible_ssh_common_args": "-o ServerAliveInterval=7", "ansible_ssh_extra_args": ""}
	cfg, err = SSHConfigFor(h, d.apply(vars), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.InsecureIgnoreHostKey || cfg.NoUserKnownHosts || cfg.Bastion != nil || cfg.KeepAliveInterval != 7*time.Second {
		t.Fatalf("the host's ssh args should replace the flags: %+v", cfg)
	}
	if _, set := vars["ansible_ssh_private_key_file"]; set || len(vars) != 2 {
		t.Fatal("apply changed its argument")
	}
}

func TestCheckSSHArgs(t *testing.T) {
	for args, ok := range map[string]bool{
		"":                    true,
		"-J jump":             true,
		"-Jjump":              true,
		"-o ProxyJump=a@b:22": true,
		"-oServerAliveInterval=30 -o 'ServerAliveCountMax 4'": true,
		"-o stricthostkeychecking=no":                         true,
		`-o "UserKnownHostsFile=/a /b"`:                       true,
		"-o ServerAliveCountMax=0":                            false,
		"-o ControlPersist=60s":                               false,
		"-o ConnectTimeout=5":                                 false,
		"-o":                                                  false,
		"-o ProxyJump=":                                       false,
		"-v":                                                  false,
		`-o "ProxyJump=x`:                                     false,
	} {
		if err := checkSSHArgs("--ssh-common-args", args); (err == nil) != ok {
			t.Errorf("%q: %v", args, err)
		}
	}
}
