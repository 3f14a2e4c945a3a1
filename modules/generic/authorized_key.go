package generic

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:    "authorized_key",
		Summary: "Add or remove SSH public keys in a user's authorized_keys (ansible.posix.authorized_key)",
		CheckMode: "Reads the user's entry in /etc/passwd and the keys file and reports the file's unified diff. " +
			"Changes nothing; a user that an earlier task would create is known after apply.",
		Example: `- name: The operators can log in as deploy
  ansible.posix.authorized_key:
    user: deploy
    key: "{{ lookup('file', 'files/operators.pub') }}"
    exclusive: true`,
		New: func() modules.Module { return &AuthorizedKey{} },
	})
}

// AuthorizedKey is ansible.posix.authorized_key: the file is parsed and
// written back as Ansible does (keys by their base64 blob, in their
// original order, options and comment normalised), so a host ends with the
// same file under either tool.
type AuthorizedKey struct {
	User          string `yaml:"user" required:"true" doc:"the account whose keys file is edited"`
	Key           string `yaml:"key" required:"true" doc:"one or more public key lines, or an http(s) URL the host fetches them from (https://github.com/NAME.keys)"`
	Path          string `yaml:"path" doc:"the keys file (default ~USER/.ssh/authorized_keys)"`
	ManageDir     bool   `yaml:"manage_dir" default:"true" doc:"create the file's directory with mode 0700, owned by the user"`
	State         string `yaml:"state" default:"present" choices:"present,absent" doc:"whether the keys are in the file"`
	KeyOptions    string `yaml:"key_options" doc:"options for every given key, replacing theirs (from=\"10.0.0.0/8\",no-agent-forwarding)"`
	Exclusive     bool   `yaml:"exclusive" doc:"remove every other key from the file"`
	Comment       string `yaml:"comment" doc:"the comment of every given key, replacing theirs"`
	ValidateCerts bool   `yaml:"validate_certs" default:"true" doc:"verify the TLS certificate of a key URL"`
	Follow        bool   `yaml:"follow" doc:"edit the file a symlink points to instead of replacing the link"`

	keyfile string
}

func (m *AuthorizedKey) Validate() error {
	if err := validAccountName("user", m.User); err != nil {
		return err
	}
	if m.Path != "" && !path.IsAbs(m.Path) {
		return fmt.Errorf("path %q must be an absolute path", m.Path)
	}
	if m.isURL() {
		return nil
	}
	for _, l := range keyLines(m.Key) {
		if parseAuthKey(l, 0) == nil {
			return fmt.Errorf("invalid key specified: %s", l)
		}
	}
	return nil
}

func (m *AuthorizedKey) isURL() bool { return strings.HasPrefix(m.Key, "http") }

func (m *AuthorizedKey) Reads() []string {
	if m.Path != "" {
		return []string{m.Path, "/etc/passwd"}
	}
	return []string{"/etc/passwd"}
}

func (m *AuthorizedKey) Result() map[string]any {
	return map[string]any{"user": m.User, "key": m.Key, "path": nilIfEmpty(m.Path), "manage_dir": m.ManageDir, "state": m.State,
		"key_options": nilIfEmpty(m.KeyOptions), "exclusive": m.Exclusive, "comment": nilIfEmpty(m.Comment),
		"validate_certs": m.ValidateCerts, "follow": m.Follow, "keyfile": m.keyfile}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// keyLines are the given keys: non-empty lines not starting with '#'.
func keyLines(key string) []string {
	var out []string
	for _, l := range strings.Split(strings.ReplaceAll(key, "\r\n", "\n"), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

// authKeyPlan is what Apply writes.
type authKeyPlan struct {
	file, dir  string
	content    []byte
	uid, gid   int
	manageDirs bool
}

func (m *AuthorizedKey) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	db, err := readAccounts(ctx, h)
	if err != nil {
		return plan.Diff{}, err
	}
	u, ok := db.user(m.User)
	if !ok {
		return plan.Diff{}, modules.NotYet("authorized_key: user %s does not exist", m.User)
	}
	file := m.Path
	if file == "" {
		file = path.Join(u.Home, ".ssh", "authorized_keys")
	}
	if m.Follow {
		if file, err = followLinks(ctx, h, file); err != nil {
			return plan.Diff{}, err
		}
	}
	m.keyfile = file
	key := m.Key
	if m.isURL() {
		if key, err = m.fetch(ctx, h); err != nil {
			return plan.Diff{}, err
		}
	}
	old, _, exists, err := readFile(ctx, h, file)
	if err != nil {
		return plan.Diff{}, err
	}
	kf := parseAuthKeys(string(old))
	if err := m.edit(kf, keyLines(key)); err != nil {
		return plan.Diff{}, err
	}
	if !kf.changed {
		return plan.Diff{}, nil
	}
	p := &authKeyPlan{file: file, dir: path.Dir(file), content: []byte(kf.serialize()), uid: u.UID, gid: u.GID, manageDirs: m.ManageDir}
	d := plan.Diff{State: p}
	act := plan.Update
	if !exists {
		act = plan.Create
	}
	d.Add(contentChange("file:"+file, act, old, p.content))
	return d, nil
}

// edit is Ansible's enforce_state on the parsed file.
func (m *AuthorizedKey) edit(kf *authKeysFile, lines []string) error {
	var keep []string
	base := len(kf.order)
	for i, l := range lines {
		k := parseAuthKey(l, i)
		if k == nil {
			return fmt.Errorf("invalid key specified: %s", l)
		}
		if m.KeyOptions != "" {
			k.options = parseKeyOptions(m.KeyOptions)
		}
		if m.Comment != "" {
			k.comment = m.Comment
		}
		cur, found := kf.keys[k.id]
		matched := found && (m.State == "absent" || cur.same(k))
		if m.State == "absent" {
			if matched {
				kf.remove(k.id)
			}
			continue
		}
		keep = append(keep, k.id)
		if found && !matched {
			kf.remove(k.id)
		}
		if !matched {
			k.rank = base + i
			kf.put(k)
			kf.changed = true
		}
	}
	if m.State == "present" && m.Exclusive {
		for _, id := range slices.Clone(kf.order) {
			if !slices.Contains(keep, id) {
				kf.remove(id)
			}
		}
	}
	return nil
}

// fetch reads the keys from a URL, from the host as Ansible does.
func (m *AuthorizedKey) fetch(ctx context.Context, h modules.Host) (string, error) {
	cl := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: h.Conn().Dial,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: !m.ValidateCerts}}} //nolint:gosec // the user's validate_certs: false
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.Key, nil)
	if err != nil {
		return "", fmt.Errorf("key %s: %w", m.Key, err)
	}
	resp, err := cl.Do(req)
	if err != nil {
		return "", fmt.Errorf("error getting key from %s: %w", m.Key, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("error getting key from %s: HTTP %d", m.Key, resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", fmt.Errorf("error getting key from %s: %w", m.Key, err)
	}
	return string(b), nil
}

func (m *AuthorizedKey) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	if d.Empty() {
		return nil // Check found nothing to do
	}
	p, err := modules.StateOf[*authKeyPlan](h, "authorized_key", d)
	if err != nil {
		return err
	}
	owner := strconv.Itoa(p.uid) + ":" + strconv.Itoa(p.gid)
	if p.manageDirs {
		// Ansible creates the directory and then always sets it 0700, owned
		// by the user.
		if err := run(ctx, h, fmt.Sprintf("mkdir -p %[1]s && chown %[2]s %[1]s && chmod 0700 %[1]s", conn.Quote(p.dir), owner)); err != nil {
			return fmt.Errorf("authorized_key: %w", err)
		}
	} else if err := run(ctx, h, conn.Join("mkdir", "-p", p.dir)); err != nil {
		return fmt.Errorf("authorized_key: %w", err)
	}
	if err := h.Conn().WriteFile(ctx, p.file, p.content, conn.FileAttrs{Mode: 0o600, Owner: strconv.Itoa(p.uid), Group: strconv.Itoa(p.gid)}); err != nil {
		return fmt.Errorf("authorized_key: write %s: %w", p.file, err)
	}
	return nil
}

// followLinks resolves symlinks in the final component, as realpath does
// for the file Ansible edits with follow.
func followLinks(ctx context.Context, h modules.Host, p string) (string, error) {
	for range 16 {
		fi, ok, err := stat(ctx, h, p)
		if err != nil || !ok || !fi.IsLink() {
			return p, err
		}
		if path.IsAbs(fi.Link) {
			p = fi.Link
		} else {
			p = path.Join(path.Dir(p), fi.Link)
		}
	}
	return "", errors.New(p + ": too many levels of symlinks")
}

// sshKeyTypes are the key types Ansible recognises in a line.
var sshKeyTypes = []string{
	"sk-ecdsa-sha2-nistp256@openssh.com", "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com", "webauthn-sk-ecdsa-sha2-nistp256@openssh.com",
	"ecdsa-sha2-nistp256", "ecdsa-sha2-nistp256-cert-v01@openssh.com", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp384-cert-v01@openssh.com",
	"ecdsa-sha2-nistp521", "ecdsa-sha2-nistp521-cert-v01@openssh.com", "sk-ssh-ed25519@openssh.com", "sk-ssh-ed25519-cert-v01@openssh.com",
	"ssh-ed25519", "ssh-ed25519-cert-v01@openssh.com", "ssh-dss", "ssh-rsa", "ssh-xmss@openssh.com", "ssh-xmss-cert-v01@openssh.com",
	"rsa-sha2-256", "rsa-sha2-512", "ssh-rsa-cert-v01@openssh.com", "rsa-sha2-256-cert-v01@openssh.com", "rsa-sha2-512-cert-v01@openssh.com",
	"ssh-dss-cert-v01@openssh.com",
}

// keyOption is one option of a key line; value nil for a bare flag.
type keyOption struct {
	name  string
	value *string
}

var optionPart = regexp.MustCompile(`(?:[^,"']|"[^"]*"|'[^']*')+`)

func parseKeyOptions(s string) []keyOption {
	var out []keyOption
	for _, part := range optionPart.FindAllString(s, -1) {
		if k, v, ok := strings.Cut(part, "="); ok {
			out = append(out, keyOption{k, &v})
		} else {
			out = append(out, keyOption{name: part})
		}
	}
	return out
}
