package generic

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:    "openssh_keypair",
		Summary: "Make an OpenSSH private and public key pair with ssh-keygen on the host (community.crypto.openssh_keypair)",
		CheckMode: "Reads the key with ssh-keygen -l and -y and the .pub file, and reports a key that would be made, " +
			"replaced (wrong type or size), a public key that would be written again, and mode or owner changes. " +
			"Changes nothing.",
		Example: `- name: A 4096-bit RSA host key, as dev-sec's ssh_hardening makes it
  community.crypto.openssh_keypair:
    path: /etc/ssh/ssh_host_rsa_key
    type: rsa
    size: 4096
    regenerate: partial_idempotence`,
		New: func() modules.Module { return &OpenSSHKeypair{} },
	})
}

// OpenSSHKeypair is community.crypto.openssh_keypair with its opensshbin
// backend, the one it picks when ssh-keygen is there and no passphrase is
// given: the key is made by ssh-keygen on the host, and "valid" means the
// type and size ssh-keygen -l reports, as the collection's code decides.
type OpenSSHKeypair struct {
	Path             string `yaml:"path" required:"true" doc:"the private key; the public key is PATH.pub"`
	State            string `yaml:"state" default:"present" choices:"present,absent" doc:"absent removes both files"`
	Type             string `yaml:"type" default:"rsa" choices:"rsa,dsa,rsa1,ecdsa,ed25519" doc:"key algorithm"`
	Size             int    `yaml:"size" doc:"bits: rsa 4096 by default (1024 at least), dsa 1024, ecdsa 256, 384 or 521 (256 by default); ignored for ed25519"`
	Comment          string `yaml:"comment" doc:"comment of the public key; a different one is set without a new key"`
	Force            bool   `yaml:"force" doc:"make a new key on every run (as regenerate: always)"`
	Regenerate       string `yaml:"regenerate" default:"partial_idempotence" choices:"never,fail,partial_idempotence,full_idempotence,always" doc:"when an existing key is replaced: never; fail on a key of the wrong type or size; partial_idempotence and full_idempotence replace such a key (full_idempotence also an unreadable one); always"`
	Passphrase       string `yaml:"passphrase" secret:"true" doc:"not supported: needs the collection's cryptography backend"`
	PrivateKeyFormat string `yaml:"private_key_format" default:"auto" choices:"auto,pkcs1,pkcs8,ssh" doc:"only auto (ssh-keygen's own format), as with the collection's opensshbin backend"`
	Backend          string `yaml:"backend" default:"auto" choices:"auto,cryptography,opensshbin" doc:"auto and opensshbin: ssh-keygen on the host; cryptography is not supported"`
	Attrs            `yaml:",squash"`

	before, after keyState
	result        map[string]any
}

// keypairPlan is what Check decided Apply does: make a new pair, or write
// the public key again from the private one (then fix modes either way).
type keypairPlan struct{ generate, pub bool }

// keyState is what a key pair on the host says about itself.
type keyState struct {
	exists, readable bool   // the private key file, and whether ssh-keygen -y reads it
	size             int    // from ssh-keygen -l
	typ, fingerprint string // rsa, ecdsa, ...; SHA256:...
	pubExists        bool
	pubType, pubData string // the .pub file's fields
	pubComment       string
	derivedType      string // ssh-keygen -y of the private key
	derivedData      string
}

func (m *OpenSSHKeypair) Provision() {
	if m.Force {
		m.Regenerate = "always"
	}
	if m.Size == 0 {
		switch m.Type {
		case "rsa", "rsa1":
			m.Size = 4096
		case "dsa":
			m.Size = 1024
		case "ecdsa":
			m.Size = 256
		}
	}
	if m.Type == "ed25519" {
		m.Size = 256 // the user's size is ignored, as in the collection
	}
}

func (m *OpenSSHKeypair) Validate() error {
	switch {
	case !path.IsAbs(m.Path):
		return fmt.Errorf("path %q must be absolute", m.Path)
	case (m.Type == "rsa" || m.Type == "rsa1") && m.Size < 1024:
		return errors.New("For RSA keys, the minimum size is 1024 bits and the default is 4096 bits. Attempting to use bit lengths under 1024 will cause the module to fail.")
	case m.Type == "dsa" && m.Size != 1024:
		return errors.New("DSA keys must be exactly 1024 bits as specified by FIPS 186-2.")
	case m.Type == "ecdsa" && m.Size != 256 && m.Size != 384 && m.Size != 521:
		return errors.New("For ECDSA keys, size determines the key length by selecting from one of three elliptic curve sizes: 256, 384 or 521 bits. Attempting to use bit lengths other than these three values for ECDSA keys will cause this module to fail.")
	case m.Passphrase != "" || m.Backend == "cryptography":
		return errors.New("passphrase and backend: cryptography need the collection's Python cryptography backend, which gpuctl does not have; gpuctl makes keys with ssh-keygen (backend: opensshbin) and without a passphrase")
	case m.PrivateKeyFormat != "auto":
		return errors.New("'auto' is the only valid option for 'private_key_format' when 'backend' is not 'cryptography'")
	case strings.ContainsAny(m.Comment, "\n\r"):
		return errors.New("comment cannot hold a line break")
	}
	return m.Attrs.validate()
}

func (m *OpenSSHKeypair) Result() map[string]any { return m.result }

// read looks at the key pair on the host.
func (m *OpenSSHKeypair) read(ctx context.Context, c conn.Conn) (keyState, error) {
	var k keyState
	// One command: whether the key is there, what ssh-keygen -l and -y say
	// of it, and the .pub file, each part after a marker line.
	p := conn.Quote(m.Path)
	script := `f=` + p + `
if [ -d "$f" ]; then echo DIR; exit 0; fi
if [ -e "$f" ]; then echo PRIV; ssh-keygen -l -f "$f" 2>/dev/null; echo "@@ $?"; ssh-keygen -P '' -y -f "$f" 2>&1; echo "@@ $?"; fi
if [ -e "$f.pub" ]; then echo PUB; cat -- "$f.pub"; echo; echo "@@ 0"; fi
echo END`
	out, err := conn.Output(ctx, c, script)
	if err != nil {
		return k, fmt.Errorf("read key %s: %w", m.Path, err)
	}
	lines := strings.Split(out, "\n")
	if len(lines) > 0 && lines[0] == "DIR" {
		return k, fmt.Errorf("%s is a directory. Please specify a path to a file.", m.Path)
	}
	// part returns the lines after marker up to the next "@@ rc" line, and rc.
	part := func(from int) ([]string, int, int) {
		for i := from; i < len(lines); i++ {
			if rc, ok := strings.CutPrefix(lines[i], "@@ "); ok {
				n, _ := strconv.Atoi(rc)
				return lines[from:i], n, i + 1
			}
		}
		return nil, -1, len(lines)
	}
	i := 0
	for i < len(lines) {
		switch lines[i] {
		case "PRIV":
			k.exists = true
			l, rc, next := part(i + 1)
			if rc == 0 && len(l) > 0 {
				// "4096 SHA256:... comment (RSA)"
				if f := strings.Fields(l[0]); len(f) >= 3 {
					k.size, _ = strconv.Atoi(f[0])
					k.fingerprint = f[1]
					k.typ = strings.ToLower(strings.Trim(f[len(f)-1], "()"))
				}
			}
			y, rc, next := part(next)
			text := strings.Join(y, "\n")
			k.readable = rc != 255 && !strings.Contains(text, "is not a public key file") &&
				!strings.Contains(text, "incorrect passphrase") && !strings.Contains(text, "load failed")
			if rc == 0 && len(y) > 0 {
				if f := strings.SplitN(strings.TrimSpace(y[0]), " ", 3); len(f) >= 2 {
					k.derivedType, k.derivedData = f[0], f[1]
				}
			}
			if k.size == 0 {
				k.readable = false
			}
			i = next
		case "PUB":
			l, _, next := part(i + 1)
			text := strings.Trim(strings.Join(l, "\n"), " \n")
			if f := strings.SplitN(text, " ", 3); len(f) >= 2 {
				k.pubExists = true
				k.pubType, k.pubData = f[0], f[1]
				if len(f) > 2 {
					k.pubComment = f[2]
				}
			}
			i = next
		default:
			i++
		}
	}
	return k, nil
}

func (m *OpenSSHKeypair) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	var d plan.Diff
	c := h.Conn()
	k, err := m.read(ctx, c)
	if err != nil {
		return d, err
	}
	m.before, m.after = k, k
	res := "file:" + m.Path
	if m.State == "absent" {
		if k.exists {
			d.Add(plan.Change{Resource: res, Action: plan.Delete, Field: "private key", Before: k.typ})
		}
		if k.pubExists {
			d.Add(plan.Change{Resource: res + ".pub", Action: plan.Delete, Field: "public key", Before: k.pubType})
		}
		d.State = &keypairPlan{}
		m.setResult(k)
		return d, nil
	}
	valid := k.exists && k.readable && k.size == m.Size && k.typ == m.Type
	if k.exists && (m.Regenerate == "never" || m.Regenerate == "fail" || m.Regenerate == "partial_idempotence") && !k.readable {
		return d, errors.New("Unable to read the key. The key is protected with a passphrase or broken. Will not proceed. " +
			"To force regeneration, call the module with `generate` set to `full_idempotence` or `always`, or with `force=true`.")
	}
	generate := false
	switch {
	case !k.exists || !k.readable:
		generate = true
	case m.Regenerate == "never":
	case m.Regenerate == "fail":
		if !valid {
			return d, errors.New("Key has wrong type and/or size. Will not proceed. To force regeneration, call the module " +
				"with `generate` set to `partial_idempotence`, `full_idempotence` or `always`, or with `force=true`.")
		}
	case m.Regenerate == "always":
		generate = true
	default:
		generate = !valid
	}
	p := &keypairPlan{}
	switch {
	case generate:
		act, before := plan.Create, ""
		if k.exists {
			act, before = plan.Replace, fmt.Sprintf("%s %d %s", k.typ, k.size, k.fingerprint)
		}
		d.Add(plan.Change{Resource: res, Action: act, Field: "key pair", Before: before, After: fmt.Sprintf("new %s %d", m.Type, m.Size)})
		// The new files get ssh-keygen's modes (0600, 0644) unless mode is
		// given; owner and group follow after.
		if m.Mode != "" || m.Owner != "" || m.Group != "" {
			d.Add(plan.Change{Resource: res, Action: plan.Update, Field: "mode/owner/group",
				After: strings.TrimSpace(fmt.Sprintf("mode=%s owner=%s group=%s", m.Mode, m.Owner, m.Group))})
		}
		d.State = &keypairPlan{generate: true}
		return d, nil
	case !m.publicKeyValid(k):
		p.pub = true
		d.Add(plan.Change{Resource: res + ".pub", Action: plan.Update, Field: "public key",
			Before: strings.TrimSpace(k.pubType + " " + shortKey(k.pubData) + " " + k.pubComment), After: strings.TrimSpace(k.derivedType + " " + shortKey(k.derivedData) + " " + m.Comment)})
	}
	for _, f := range []string{m.Path, m.Path + ".pub"} {
		fi, ok, err := stat(ctx, h, f)
		if err != nil {
			return d, err
		}
		if ok {
			if _, err := diffAttrs(ctx, h, fi, m.Attrs, "file:"+f, &d); err != nil {
				return d, err
			}
		}
	}
	d.State = p
	m.setResult(k)
	return d, nil
}

// publicKeyValid is the collection's _public_key_valid: the .pub file holds
// the private key's public half, and the comment asked for when one is.
func (m *OpenSSHKeypair) publicKeyValid(k keyState) bool {
	if !k.pubExists {
		return false
	}
	return k.pubType == k.derivedType && k.pubData == k.derivedData && (m.Comment == "" || k.pubComment == m.Comment)
}

func shortKey(data string) string {
	if len(data) > 16 {
		return data[:8] + "…" + data[len(data)-8:]
	}
	return data
}

func (m *OpenSSHKeypair) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	todo, err := modules.StateOf[*keypairPlan](h, "openssh_keypair", d)
	if err != nil {
		return err
	}
	c := h.Conn()
	p := conn.Quote(m.Path)
	switch {
	case m.State == "absent":
		if _, err := conn.Output(ctx, c, "rm -f -- "+p+" "+conn.Quote(m.Path+".pub")); err != nil {
			return err
		}
	case todo.generate:
		// ssh-keygen writes into a fresh directory beside the key, and
		// both files are renamed into place: a key is never half-written,
		// and an old pair is replaced whole.
		script := `set -e
d=$(mktemp -d "$(dirname -- ` + p + `)/.gpuctl-keypair.XXXXXX")
trap 'rm -rf -- "$d"' EXIT
ssh-keygen -q -N '' -b ` + strconv.Itoa(m.Size) + ` -t ` + conn.Quote(m.Type) + ` -f "$d/key" -C ` + conn.Quote(m.Comment) + `
mv -f -- "$d/key" ` + p + `
mv -f -- "$d/key.pub" ` + conn.Quote(m.Path+".pub")
		if _, err := conn.Output(ctx, c, script); err != nil {
			return fmt.Errorf("generate %s: %w", m.Path, err)
		}
	case todo.pub:
		script := `set -e
f=` + p + `
ssh-keygen -P '' -y -f "$f" > "$f.pub.tmp"
chmod 0644 "$f.pub.tmp"
mv -f -- "$f.pub.tmp" "$f.pub"`
		if m.Comment != "" {
			script += "\nssh-keygen -q -o -c -C " + conn.Quote(m.Comment) + ` -f "$f"`
		}
		if _, err := conn.Output(ctx, c, script); err != nil {
			return fmt.Errorf("The public key is missing or does not match the private key. Unable to regenerate the public key: %w", err)
		}
	}
	if m.State == "present" {
		for _, f := range []string{m.Path, m.Path + ".pub"} {
			var dd plan.Diff
			fi, ok, err := stat(ctx, h, f)
			if err != nil || !ok {
				return fmt.Errorf("after ssh-keygen, %s: %v", f, err)
			}
			fix, err := diffAttrs(ctx, h, fi, m.Attrs, "file:"+f, &dd)
			if err != nil {
				return err
			}
			if err := applyAttrs(ctx, h, f, fix); err != nil {
				return err
			}
		}
	}
	k, err := m.read(ctx, c)
	if err != nil {
		return err
	}
	m.after = k
	m.setResult(k)
	return nil
}

// setResult is what the collection returns: the key's size and type as
// asked, its fingerprint, the public key as "type data" and its comment.
func (m *OpenSSHKeypair) setResult(k keyState) {
	m.result = map[string]any{"size": m.Size, "type": m.Type, "filename": m.Path, "fingerprint": "", "public_key": "", "comment": ""}
	if k.exists {
		m.result["fingerprint"] = k.fingerprint
	}
	if k.pubExists {
		m.result["public_key"] = k.pubType + " " + k.pubData
		m.result["comment"] = k.pubComment
	}
}

var (
	_ modules.Module      = (*OpenSSHKeypair)(nil)
	_ modules.Provisioner = (*OpenSSHKeypair)(nil)
	_ modules.Resulter    = (*OpenSSHKeypair)(nil)
)
