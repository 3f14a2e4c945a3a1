package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"path"
	"slices"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:      "apt_key",
		Summary:   "Add or remove a key in apt's trusted keyrings with apt-key, as Ansible's apt_key does",
		CheckMode: "Lists the keys apt-key knows (and, without id, reads the key's id from url, data or file with gpg in a throw-away home); changes nothing.",
		Example: `- name: Repository signing key
  apt_key:
    id: 9FED2BCBDCD29CDF762678CBAED4B06F473041FA
    url: https://ftp-master.debian.org/keys/archive-key-6.0.asc`,
		New: func() modules.Module { return &AptKey{} },
	})
}

// AptKey is ansible.builtin.apt_key. It drives the host's apt-key, as
// Ansible does, so the keyring a playbook ends with is the one
// ansible-playbook leaves (/etc/apt/trusted.gpg, or keyring). apt-key is
// deprecated and gone from Debian 13: apt_repository with a key of its own
// (signed-by) is the way forward, and the error says so.
type AptKey struct {
	ID            string `yaml:"id" doc:"the key's id: 8, 16 or more hex digits, optionally 0x-prefixed (use the 40-digit fingerprint); required with state=absent and keyserver"`
	URL           string `yaml:"url" doc:"URL of the key, downloaded on the host (with id: only when the key is missing)"`
	Data          string `yaml:"data" doc:"the key itself (ASCII-armoured)"`
	File          string `yaml:"file" doc:"path of the key on the host"`
	Keyring       string `yaml:"keyring" doc:"the keyring file to add to or remove from (default: apt-key's, /etc/apt/trusted.gpg)"`
	Keyserver     string `yaml:"keyserver" doc:"accepted for Ansible playbooks: a key that is missing fails, since gpuctl does not fetch keys from key servers"`
	State         string `yaml:"state" default:"present" choices:"present,absent" doc:"present adds the key when missing; absent removes it"`
	ValidateCerts bool   `yaml:"validate_certs" default:"true" doc:"must stay true: keys are downloaded with apt's HTTP client, which verifies certificates"`

	key     []byte // the key's bytes when Check had to read them for its id
	listed  bool   // keys holds the first Check's listing
	before  []string
	current []string
	applied bool
	ids     map[string]any
}

func (r *AptKey) Validate() error {
	n := 0
	for _, s := range []string{r.Data, r.File, r.Keyserver, r.URL} {
		if s != "" {
			n++
		}
	}
	if n > 1 {
		return errors.New("parameters are mutually exclusive: data|file|keyserver|url")
	}
	if r.ID != "" {
		if _, _, _, err := parseKeyID(r.ID); err != nil {
			return err
		}
	}
	switch {
	case r.State == "absent" && r.ID == "":
		return errors.New("state=absent needs id: the key to remove")
	case r.Keyserver != "" && r.ID == "":
		return errors.New("keyserver needs id: the key to fetch")
	case r.State == "present" && r.ID == "" && n == 0:
		return errors.New("give the key with url, data or file (or its id with one of them)")
	case r.Keyring != "" && !path.IsAbs(r.Keyring):
		return fmt.Errorf("keyring %q: give an absolute path", r.Keyring)
	case r.File != "" && !path.IsAbs(r.File):
		return fmt.Errorf("file %q: give an absolute path on the host", r.File)
	case !r.ValidateCerts:
		return errors.New("validate_certs: false is not supported: the key is downloaded with apt's HTTP client, which always verifies certificates")
	}
	if r.Data != "" && !strings.Contains(r.Data, "-----BEGIN PGP PUBLIC KEY BLOCK-----") {
		return errors.New("data must be an ASCII-armoured public key (-----BEGIN PGP PUBLIC KEY BLOCK-----)")
	}
	if r.URL != "" {
		if u, err := url.Parse(r.URL); err != nil || u.Scheme == "" {
			return fmt.Errorf("url %q is not a URL", r.URL)
		}
	}
	return nil
}

// parseKeyID is Ansible's parse_key_id: the id for apt-key del (last 8
// digits), the one `--keyid-format=long` lists (last 16) and the whole id.
func parseKeyID(id string) (short, fp, full string, err error) {
	full = strings.ToUpper(strings.TrimSpace(id))
	full = strings.TrimPrefix(full, "0X")
	if full == "" || !isHex(full) {
		return "", "", "", fmt.Errorf("id %q is not a hexadecimal key id", id)
	}
	if l := len(full); l != 8 && l != 16 && l <= 16 {
		return "", "", "", fmt.Errorf("id %q: key ids are 8, 16 or more (a 40-digit fingerprint) hexadecimal digits", id)
	}
	short, fp = full[len(full)-8:], full
	if len(full) > 16 {
		fp = full[len(full)-16:]
	}
	return short, fp, full, nil
}

func isHex(s string) bool {
	return strings.Trim(s, "0123456789ABCDEF") == ""
}

func (r *AptKey) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	c := h.Conn()
	if err := aptKeyTools(ctx, c); err != nil {
		return plan.Diff{}, err
	}
	id := r.ID
	if id == "" {
		var err error
		if id, err = r.idFromKey(ctx, h); err != nil {
			return plan.Diff{}, err
		}
	}
	short, fp, full, err := parseKeyID(id)
	if err != nil {
		return plan.Diff{}, err
	}
	r.ids = map[string]any{"id": id, "short_id": short, "fp": fp, "key_id": full}
	shortFormat := len(full) == 8
	keys, err := listAptKeys(ctx, c, r.Keyring, shortFormat)
	if err != nil {
		return plan.Diff{}, err
	}
	if !r.listed {
		r.before, r.listed = keys, true
	}
	r.current = keys
	want := fp
	if shortFormat {
		want = short
	}
	has := slices.Contains(keys, want)
	s := &steps{}
	switch {
	case r.State == "present" && !has:
		do, err := r.addStep(full, want, shortFormat)
		if err != nil {
			return plan.Diff{}, err
		}
		s.add(plan.Change{Resource: "apt-key:" + full, Action: plan.Create, Field: "keyring", After: r.keyringName()}, do)
	case r.State == "absent" && has:
		s.add(plan.Change{Resource: "apt-key:" + full, Action: plan.Delete, Field: "keyring", Before: r.keyringName()},
			func(ctx context.Context, c conn.Conn) error {
				if err := sh(ctx, c, r.aptKey("del "+short)); err != nil {
					return fmt.Errorf("remove key %s: %w", full, err)
				}
				return r.verify(ctx, c, want, shortFormat, false)
			})
	}
	return s.diff(), nil
}

func (r *AptKey) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	r.applied = true
	return applySteps(ctx, h, "apt_key", d)
}

// Result is what Ansible's apt_key registers: before (the keys before any
// change), after (on change), id, key_id, fp and short_id.
func (r *AptKey) Result() map[string]any {
	out := map[string]any{"before": r.before}
	for k, v := range r.ids {
		out[k] = v
	}
	if r.applied {
		out["after"] = r.current
	}
	return out
}

func (r *AptKey) keyringName() string {
	if r.Keyring != "" {
		return r.Keyring
	}
	return "/etc/apt/trusted.gpg (apt-key's default)"
}

// aptKey is an apt-key command line on the chosen keyring; LC_ALL=C keeps
// its output parsable, as Ansible's lang_env does.
func (r *AptKey) aptKey(args string) string {
	cmd := "LC_ALL=C apt-key "
	if r.Keyring != "" {
		cmd += "--keyring " + conn.Quote(r.Keyring) + " "
	}
	return cmd + args
}

// addStep returns the action that adds the key, from the bytes Check read
// or from its source, and verifies apt-key lists it afterwards.
func (r *AptKey) addStep(full, want string, shortFormat bool) (func(context.Context, conn.Conn) error, error) {
	if r.Keyserver != "" {
		return nil, fmt.Errorf("key %s is not in %s, and gpuctl does not fetch keys from key servers (%s): give the key with url, data or file", full, r.keyringName(), r.Keyserver)
	}
	if r.File == "" && r.Data == "" && r.URL == "" {
		return nil, fmt.Errorf("key %s is not in %s and the task gives no url, data or file to add it from", full, r.keyringName())
	}
	return func(ctx context.Context, c conn.Conn) error {
		var err error
		if r.File != "" {
			err = sh(ctx, c, r.aptKey("add "+conn.Quote(r.File)))
		} else {
			key := r.key
			if key == nil {
				if key, err = r.keyBytes(ctx, c); err != nil {
					return err
				}
			}
			err = sh(ctx, c, r.aptKey("add -"), conn.Stdin(bytes.NewReader(key)))
		}
		if err != nil {
			return fmt.Errorf("add key %s: %w", full, err)
		}
		return r.verify(ctx, c, want, shortFormat, true)
	}, nil
}

// verify is Ansible's sanity check: the id given must be the key added.
func (r *AptKey) verify(ctx context.Context, c conn.Conn, want string, shortFormat, present bool) error {
	keys, err := listAptKeys(ctx, c, r.Keyring, shortFormat)
	if err != nil {
		return err
	}
	if slices.Contains(keys, want) != present {
		what := map[bool]string{true: "failed to add the key", false: "the key was not removed"}[present]
		return fmt.Errorf("apt-key did not return an error, but %s (check that the id is correct and *not* a subkey)", what)
	}
	return nil
}
