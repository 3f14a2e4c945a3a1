package generic

import (
	"context"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

// user's generate_ssh_key, as ansible-core's User.ssh_key_gen: ssh-keygen
// runs on the host, as root, into a directory made 0700 for the user when
// missing, then the key and its .pub are given to the user. A key already
// there (either half) is kept unless force, which makes a new one on
// every run, as in Ansible.

// sshKeyType is what ssh-keygen -t takes: a word, never shell syntax.
var sshKeyType = regexp.MustCompile(`^[A-Za-z0-9@._-]+$`)

func (m *User) validateSSHKey() error {
	switch {
	case m.SSHKeyBits < 0:
		return fmt.Errorf("ssh_key_bits %d: expected a number of bits, or 0 for ssh-keygen's default", m.SSHKeyBits)
	case !sshKeyType.MatchString(m.SSHKeyType):
		return fmt.Errorf("ssh_key_type %q is not a key type ssh-keygen knows (rsa, ed25519, ecdsa, ...)", m.SSHKeyType)
	case m.SSHKeyFile != nil && (*m.SSHKeyFile == "" || strings.ContainsAny(*m.SSHKeyFile, "\n\x00")):
		return fmt.Errorf("ssh_key_file %q: expected a path, absolute or under the user's home", *m.SSHKeyFile)
	case strings.ContainsAny(m.SSHKeyPassphrase, "\n\r"):
		return errors.New("ssh_key_passphrase cannot hold a line break")
	case m.SSHKeyComment != nil && strings.ContainsAny(*m.SSHKeyComment, "\n\r"):
		return errors.New("ssh_key_comment cannot hold a line break")
	}
	return nil
}

// sshKeyPath is where the key goes: ssh_key_file (default .ssh/id_TYPE),
// under home when relative.
func (m *User) sshKeyPath(home string) string {
	f := ".ssh/id_" + m.SSHKeyType
	if m.SSHKeyFile != nil {
		f = *m.SSHKeyFile
	}
	if path.IsAbs(f) {
		return f
	}
	return path.Join(home, f)
}

// checkSSHKey adds the key to the plan when it would be made, and
// registers the one there. exists says whether the account exists yet; a
// new account's home is the one useradd would give it.
func (m *User) checkSSHKey(ctx context.Context, h modules.Host, u passwdEntry, exists bool, op *accountOp, d *plan.Diff) error {
	if !m.GenerateSSHKey || m.State != "present" {
		return nil
	}
	home := m.Home
	if home == "" && exists {
		home = u.Home
	}
	if home == "" {
		home = "/home/" + m.Name
	}
	key := m.sshKeyPath(home)
	action, what := plan.Create, m.SSHKeyType+" key"
	if exists {
		found, err := m.keyThere(ctx, h, key)
		if err != nil {
			return err
		}
		if found && (!m.Force || m.keyMade) {
			return m.registerSSHKey(ctx, h, key)
		}
		if found {
			action, what = plan.Replace, "a new "+what+" (force)"
		}
	}
	op.sshKey = true
	d.Add(plan.Change{Resource: "file:" + key, Action: action, Field: "ssh_key", After: what})
	if exists {
		return m.registerSSHKey(ctx, h, key)
	}
	return nil
}

// keyThere reports either half of the key pair present: Ansible keeps it.
func (m *User) keyThere(ctx context.Context, h modules.Host, key string) (bool, error) {
	for _, p := range []string{key, key + ".pub"} {
		ok, err := exists(ctx, h, p)
		if err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

// registerSSHKey sets what Ansible registers about the key: its file, the
// fingerprint ssh-keygen -l gives (its error output when it fails; empty
// when there is no private key), and the public key (nil without one).
func (m *User) registerSSHKey(ctx context.Context, h modules.Host, key string) error {
	m.result["ssh_key_file"] = key
	m.result["ssh_fingerprint"] = ""
	ok, err := exists(ctx, h, key)
	if err != nil {
		return err
	}
	if ok {
		res, err := h.Conn().Run(ctx, "ssh-keygen -l -f "+conn.Quote(key))
		if err != nil {
			return fmt.Errorf("user %s: ssh-keygen -l: %w", m.Name, err)
		}
		m.result["ssh_fingerprint"] = strings.TrimSpace(res.Stdout)
		if res.ExitCode != 0 {
			m.result["ssh_fingerprint"] = strings.TrimSpace(res.Stderr)
		}
	}
	m.result["ssh_public_key"] = nil
	if pub, err := h.Conn().ReadFile(ctx, key+".pub"); err == nil {
		m.result["ssh_public_key"] = strings.TrimSpace(string(pub))
	}
	return nil
}

// makeSSHKey runs ssh-keygen for the account as it is after the account
// commands ran. The passphrase goes in on stdin, so no command line that
// gpuctl logs or sudo records holds it.
func (m *User) makeSSHKey(ctx context.Context, h modules.Host) error {
	db, err := readAccounts(ctx, h)
	if err != nil {
		return err
	}
	u, ok := db.user(m.Name)
	if !ok {
		return fmt.Errorf("user %s: not found after creating it", m.Name)
	}
	key := m.sshKeyPath(u.Home)
	if m.SSHKeyFile == nil || !path.IsAbs(*m.SSHKeyFile) {
		if ok, err := exists(ctx, h, u.Home); err != nil || !ok {
			return errors.Join(fmt.Errorf("user %s: home directory %s does not exist, so the key has nowhere to go", m.Name, u.Home), err)
		}
	}
	q := conn.Quote
	owner := strconv.Itoa(u.UID) + ":" + strconv.Itoa(u.GID)
	keep := `if [ -e "$key" ] || [ -e "$key.pub" ]; then exit 0; fi` // made meanwhile: keep it
	if m.Force {
		keep = `rm -f "$key" "$key.pub"`
	}
	comment := `"ansible-generated on $(uname -n)"`
	if m.SSHKeyComment != nil {
		comment = q(*m.SSHKeyComment)
	}
	bits := ""
	if m.SSHKeyBits > 0 {
		bits = " -b " + strconv.Itoa(m.SSHKeyBits)
	}
	script := fmt.Sprintf(`set -e
dir=%s key=%s
if [ ! -e "$dir" ]; then mkdir -m 0700 "$dir"; chown %s "$dir"; fi
%s
IFS= read -r pass || true
ssh-keygen -q -t %s%s -C %s -f "$key" -N "$pass" </dev/null
chown %s "$key" "$key.pub"`, q(path.Dir(key)), q(key), owner, keep, m.SSHKeyType, bits, comment, owner)
	opts := []conn.ExecOption{conn.Stdin(strings.NewReader(m.SSHKeyPassphrase + "\n"))}
	if m.SSHKeyPassphrase != "" {
		opts = append(opts, conn.Redact(m.SSHKeyPassphrase))
	}
	if err := run(ctx, h, "sh -c "+q(script), opts...); err != nil {
		return fmt.Errorf("user %s: generate the ssh key %s: %w", m.Name, key, err)
	}
	m.keyMade = true
	return m.registerSSHKey(ctx, h, key)
}
