package generic

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:    "openssl_privatekey",
		Summary: "Make a TLS private key with openssl on the host (community.crypto.openssl_privatekey)",
		CheckMode: "Reads the key file and its public key (openssl pkey) and reports a key that would be made, " +
			"replaced (wrong type, size, curve or format, or unreadable under full_idempotence) or converted, " +
			"and mode or owner changes. Changes nothing.",
		Example: `- name: The web server's key
  community.crypto.openssl_privatekey:
    path: /etc/ssl/private/web.key
    type: ECC
    curve: secp384r1`,
		New: func() modules.Module { return &OpenSSLPrivateKey{} },
	})
}

// OpenSSLPrivateKey is community.crypto.openssl_privatekey. The collection
// needs Python's cryptography on the host; gpuctl makes and reads the key
// with the openssl command instead, writing the formats cryptography
// writes (PKCS#1/traditional PEM for RSA, DSA and EC keys, PKCS#8 for
// Ed25519, Ed448, X25519, X448, raw bytes on request) and deciding as the
// collection's PrivateKeyBackend does whether a key is kept, replaced,
// converted or refused. The fingerprints are the collection's: every hash
// Python guarantees over the DER SubjectPublicKeyInfo.
type OpenSSLPrivateKey struct {
	Path           string `yaml:"path" required:"true" doc:"the private key file"`
	State          string `yaml:"state" default:"present" choices:"present,absent" doc:"absent removes the file"`
	Type           string `yaml:"type" default:"RSA" choices:"DSA,ECC,Ed25519,Ed448,RSA,X25519,X448" doc:"key algorithm"`
	Size           int    `yaml:"size" default:"4096" doc:"bits of an RSA key (512 at least) or a DSA key (1024, 2048, 3072 or 4096); ignored for the others"`
	Curve          string `yaml:"curve" choices:"secp224r1,secp256k1,secp256r1,secp384r1,secp521r1,secp192r1,brainpoolP256r1,brainpoolP384r1,brainpoolP512r1,sect163k1,sect163r2,sect233k1,sect233r1,sect283k1,sect283r1,sect409k1,sect409r1,sect571k1,sect571r1" doc:"curve of an ECC key (required with type: ECC)"`
	Passphrase     string `yaml:"passphrase" secret:"true" doc:"encrypts the key (AES-256-CBC, as cryptography's BestAvailableEncryption); needs cipher: auto"`
	Cipher         string `yaml:"cipher" doc:"only auto, with passphrase"`
	Format         string `yaml:"format" default:"auto_ignore" choices:"pkcs1,pkcs8,raw,auto,auto_ignore" doc:"file format: auto writes PKCS#1 (traditional) where the type has it, else PKCS#8; auto_ignore does too but keeps an existing key in another format"`
	FormatMismatch string `yaml:"format_mismatch" default:"regenerate" choices:"regenerate,convert" doc:"a key in the wrong format is replaced (regenerate) or rewritten in the format asked (convert)"`
	Regenerate     string `yaml:"regenerate" default:"full_idempotence" choices:"never,fail,partial_idempotence,full_idempotence,always" doc:"when an existing key is replaced: never (fails on an unreadable key); fail (also on a key of the wrong type, size or format); partial_idempotence replaces such a key but fails on an unreadable one or a passphrase that does not match; full_idempotence replaces those too; always"`
	Force          bool   `yaml:"force" doc:"a new key on every run (regenerate: always)"`
	Backup         bool   `yaml:"backup" doc:"keep a timestamped copy of a key that is replaced or removed (backup_file)"`
	ReturnContent  bool   `yaml:"return_content" doc:"return the key file's content as privatekey (base64 for a raw key)"`
	Backend        string `yaml:"select_crypto_backend" default:"auto" choices:"auto,cryptography" doc:"accepted for playbooks: gpuctl makes the decisions of the collection's cryptography backend, with the openssl command on the host"`
	Attrs          `yaml:",squash"`

	result map[string]any
}

// privkeyPlan is what Check decided Apply does.
type privkeyPlan struct {
	generate, convert, remove bool
	fix                       attrFix
}

// privkeyState is what the host says of the key file.
type privkeyState struct {
	exists, dir bool
	data        []byte
	format      string     // pemFormat
	loaded      bool       // openssl read it (with the passphrase asked)
	passOK      bool       // the collection's _check_passphrase
	info        pubKeyInfo // when loaded
	der         []byte     // the DER public key, when loaded
}

func (m *OpenSSLPrivateKey) Provision() {
	if m.Force {
		m.Regenerate = "always"
	}
	if m.Mode == "" {
		m.Mode = "0600" // the collection's default for this module
	}
}

// montgomery are the types cryptography writes only as PKCS#8 or raw.
func montgomery(typ string) bool { return rawKeyLen[typ] != 0 }

func (m *OpenSSLPrivateKey) Validate() error {
	serialize := func() error {
		return fmt.Errorf("Cryptography backend cannot serialize the private key in the required format %q", m.Format)
	}
	switch {
	case !path.IsAbs(m.Path):
		return fmt.Errorf("path %q must be absolute", m.Path)
	case m.Type == "ECC" && m.Curve == "":
		return errors.New("type is ECC but all of the following are missing: curve")
	case (m.Cipher == "") != (m.Passphrase == ""):
		return errors.New("parameters are required together: cipher, passphrase")
	case m.Cipher != "" && m.Cipher != "auto":
		return errors.New(`Cryptography backend can only use "auto" for cipher option.`)
	case strings.ContainsAny(m.Passphrase, "\n\r\x00"):
		return errors.New("passphrase cannot hold a line break or NUL byte")
	case m.Format == "pkcs1" && montgomery(m.Type), m.Format == "raw" && !montgomery(m.Type), m.Format == "raw" && m.Passphrase != "":
		return serialize()
	case m.State == "present" && m.Type == "RSA" && m.Size < 512:
		return errors.New("key_size must be at least 512-bits.")
	case m.State == "present" && m.Type == "DSA" && !slices.Contains([]int{1024, 2048, 3072, 4096}, m.Size):
		return errors.New("Key size must be 1024, 2048, 3072, or 4096 bits.")
	}
	return m.Attrs.validate()
}

func (m *OpenSSLPrivateKey) Result() map[string]any { return m.result }

// passEnv is how every openssl command gets the passphrase: the script
// reads it from stdin into its environment, which only root reads, so it
// is never in a command line.
const passEnv = "GPUCTL_PASSPHRASE"

func (m *OpenSSLPrivateKey) passOpts() []conn.ExecOption {
	if m.Passphrase == "" {
		return nil
	}
	return []conn.ExecOption{conn.Stdin(strings.NewReader(m.Passphrase + "\n")), conn.Redact(m.Passphrase)}
}

func (m *OpenSSLPrivateKey) passPrelude() string {
	if m.Passphrase == "" {
		return ""
	}
	return "IFS= read -r " + passEnv + "; export " + passEnv + "\n"
}

// read looks at the key on the host: its bytes, then what openssl makes of
// them.
func (m *OpenSSLPrivateKey) read(ctx context.Context, c conn.Conn) (privkeyState, error) {
	var s privkeyState
	script := `f=` + conn.Quote(m.Path) + "\n" + fileProbe + `
command -v openssl >/dev/null || { echo NOOPENSSL; exit 0; }
echo FILE; base64 -w0 -- "$f"`
	out, err := conn.Output(ctx, c, script)
	if err != nil {
		return s, fmt.Errorf("read %s: %w", m.Path, err)
	}
	first, rest, _ := strings.Cut(out, "\n")
	switch first {
	case "DIR":
		s.dir = true
		return s, nil
	case "NODIR":
		return s, fmt.Errorf("The directory %s does not exist or the file is not a directory", path.Dir(m.Path))
	case "NOOPENSSL":
		return s, errors.New("gpuctl needs the openssl command on the host to make and read private keys (apt install openssl)")
	case "NONE":
		return s, nil
	}
	s.exists = true
	if s.data, err = base64.StdEncoding.DecodeString(strings.TrimSpace(rest)); err != nil {
		return s, fmt.Errorf("read %s: %w", m.Path, err)
	}
	s.format = pemFormat(s.data)
	encrypted := s.format != "raw" && pemEncrypted(s.data)
	// Only what cryptography's load_pem_private_key would take is read:
	// an encrypted key without a passphrase, or a plain one with a
	// passphrase, fails there ("Password was not given but private key is
	// encrypted" and the reverse).
	var cmd string
	var opts []conn.ExecOption
	switch {
	case s.format == "raw":
		typ := rawKeyType(len(s.data), m.Type)
		if typ == "" {
			return s, nil // 'Cannot load raw key'
		}
		cmd = "openssl pkey -inform DER -pubout"
		opts = []conn.ExecOption{conn.Stdin(bytes.NewReader(append(append([]byte{}, rawKeyPrefixes[typ]...), s.data...)))}
	case encrypted != (m.Passphrase != ""):
		return s, nil
	case encrypted:
		cmd = m.passPrelude() + `openssl pkey -in ` + conn.Quote(m.Path) + ` -passin env:` + passEnv + ` -pubout`
		opts = m.passOpts()
	default:
		cmd = `openssl pkey -in ` + conn.Quote(m.Path) + ` -passin pass: -pubout`
	}
	r, err := c.Run(ctx, cmd, opts...)
	if err != nil {
		return s, fmt.Errorf("read %s: %w", m.Path, err)
	}
	if !r.OK() {
		return s, nil // broken, or the wrong passphrase
	}
	blk, _ := pem.Decode([]byte(r.Stdout))
	if blk == nil {
		return s, fmt.Errorf("read %s: openssl pkey -pubout printed no PEM", m.Path)
	}
	if s.info, err = parseSPKI(blk.Bytes); err != nil {
		return s, fmt.Errorf("read %s: %w", m.Path, err)
	}
	s.der, s.loaded = blk.Bytes, true
	// A raw key is never encrypted: it passes only without a passphrase.
	s.passOK = s.format != "raw" || m.Passphrase == ""
	return s, nil
}

// wantedFormat is the collection's _get_wanted_format.
func (m *OpenSSLPrivateKey) wantedFormat() string {
	if m.Format != "auto" && m.Format != "auto_ignore" {
		return m.Format
	}
	if montgomery(m.Type) {
		return "pkcs8"
	}
	return "pkcs1"
}

// sizeAndTypeOK is the collection's _check_size_and_type.
func (m *OpenSSLPrivateKey) sizeAndTypeOK(k pubKeyInfo) bool {
	switch k.typ {
	case "RSA", "DSA":
		return m.Type == k.typ && m.Size == k.size
	case "ECC":
		return m.Type == "ECC" && m.Curve == k.curve
	}
	return m.Type == k.typ
}

// formatOK is the collection's _check_format.
func (m *OpenSSLPrivateKey) formatOK(s privkeyState) bool {
	return m.Format == "auto_ignore" || s.format == m.wantedFormat()
}

// decide is the collection's needs_regeneration and needs_conversion.
func (m *OpenSSLPrivateKey) decide(s privkeyState) (generate, convert bool, err error) {
	replaceable := m.Regenerate == "partial_idempotence" || m.Regenerate == "full_idempotence"
	switch {
	case m.Regenerate == "always" || !s.exists:
		return true, false, nil
	case !s.passOK:
		if m.Regenerate == "full_idempotence" {
			return true, false, nil
		}
		return false, false, errors.New("Unable to read the key. The key is protected with a another passphrase / no passphrase or broken." +
			" Will not proceed. To force regeneration, call the module with `generate` set to `full_idempotence` or `always`, or with `force=true`.")
	case m.Regenerate != "never" && !m.sizeAndTypeOK(s.info):
		if replaceable {
			return true, false, nil
		}
		return false, false, errors.New("Key has wrong type and/or size. Will not proceed. To force regeneration, call the module with `generate`" +
			" set to `partial_idempotence`, `full_idempotence` or `always`, or with `force=true`.")
	case m.FormatMismatch == "regenerate" && m.Regenerate != "never" && !m.formatOK(s):
		if replaceable {
			return true, false, nil
		}
		return false, false, errors.New("Key has wrong format. Will not proceed. To force regeneration, call the module with `generate`" +
			" set to `partial_idempotence`, `full_idempotence` or `always`, or with `force=true`. To convert the key, set `format_mismatch` to `convert`.")
	}
	return false, m.FormatMismatch == "convert" && !m.formatOK(s), nil
}

func (m *OpenSSLPrivateKey) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	var d plan.Diff
	s, err := m.read(ctx, h.Conn())
	if err != nil {
		return d, err
	}
	if s.dir {
		return d, fmt.Errorf("%s is a directory", m.Path)
	}
	res := "file:" + m.Path
	m.setResult(s, "")
	if m.State == "absent" {
		if s.exists {
			d.Add(plan.Change{Resource: res, Action: plan.Delete, Field: "private key", Before: describeKey(s)})
		}
		m.setResult(privkeyState{}, "")
		d.State = &privkeyPlan{remove: s.exists}
		return d, nil
	}
	generate, convert, err := m.decide(s)
	if err != nil {
		return d, err
	}
	p := &privkeyPlan{generate: generate, convert: convert}
	switch {
	case generate:
		act := plan.Create
		if s.exists {
			act = plan.Replace
		}
		d.Add(plan.Change{Resource: res, Action: act, Field: "private key", Before: describeKey(s), After: "new " + m.describeWanted()})
	case convert:
		d.Add(plan.Change{Resource: res, Action: plan.Update, Field: "key format", Before: s.format, After: m.wantedFormat()})
	}
	fi, ok, err := stat(ctx, h, m.Path)
	if err != nil {
		return d, err
	}
	if ok {
		if p.fix, err = diffAttrs(ctx, h, fi, m.Attrs, res, &d); err != nil {
			return d, err
		}
	} else if m.Owner != "" || m.Group != "" {
		d.Add(plan.Change{Resource: res, Action: plan.Update, Field: "owner/group", After: strings.TrimSpace("owner=" + m.Owner + " group=" + m.Group)})
	}
	d.State = p
	return d, nil
}

func describeKey(s privkeyState) string {
	switch {
	case !s.exists:
		return ""
	case !s.loaded:
		return "unreadable key"
	}
	return strings.TrimSpace(describeInfo(s.info) + " " + s.format)
}

func describeInfo(k pubKeyInfo) string {
	switch k.typ {
	case "RSA", "DSA":
		return fmt.Sprintf("%s %d", k.typ, k.size)
	case "ECC":
		return "ECC " + k.curve
	}
	return k.typ
}

func (m *OpenSSLPrivateKey) describeWanted() string {
	return describeInfo(pubKeyInfo{typ: m.Type, size: m.Size, curve: m.Curve}) + " " + m.wantedFormat()
}

// genCommand is the openssl genpkey pipeline that prints the new key,
// unencrypted PKCS#8 PEM, on stdout; DSA needs its parameters first.
func (m *OpenSSLPrivateKey) genCommand() string {
	switch m.Type {
	case "RSA":
		return "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:" + strconv.Itoa(m.Size)
	case "DSA":
		return `openssl genpkey -genparam -algorithm DSA -pkeyopt dsa_paramgen_bits:` + strconv.Itoa(m.Size) + ` -out "$d/params" 2>>"$d/err"
openssl genpkey -paramfile "$d/params"`
	case "ECC":
		name := m.Curve
		for _, c := range ecCurves {
			if c.name == m.Curve {
				name = c.openssl
			}
		}
		return "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:" + name + " -pkeyopt ec_param_enc:named_curve"
	}
	return "openssl genpkey -algorithm " + strings.ToUpper(m.Type)
}

// writeCommand reads a key as PEM on stdin and writes it to "$d/key" in
// the format asked, encrypted with the passphrase when one is given.
func (m *OpenSSLPrivateKey) writeCommand(typ string) string {
	enc := ""
	if m.Passphrase != "" {
		enc = " -aes256 -passout env:" + passEnv
	}
	switch m.wantedFormat() {
	case "raw":
		return `openssl pkey -outform DER 2>>"$d/err" | tail -c ` + strconv.Itoa(rawKeyLen[typ]) + ` > "$d/key"`
	case "pkcs1":
		return `openssl pkey -traditional` + enc + ` -out "$d/key" 2>>"$d/err"`
	}
	return `openssl pkey` + enc + ` -out "$d/key" 2>>"$d/err"`
}

func (m *OpenSSLPrivateKey) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	todo, err := modules.StateOf[*privkeyPlan](h, "openssl_privatekey", d)
	if err != nil {
		return err
	}
	c := h.Conn()
	p := conn.Quote(m.Path)
	backup := ""
	if m.Backup && (todo.remove || todo.generate || todo.convert) {
		if backup, err = backupExisting(ctx, h, m.Path); err != nil {
			return err
		}
	}
	switch {
	case todo.remove:
		if _, err := conn.Output(ctx, c, "rm -f -- "+p); err != nil {
			return fmt.Errorf("remove %s: %w", m.Path, err)
		}
	case todo.generate || todo.convert:
		if err := m.write(ctx, h, todo.convert); err != nil {
			return err
		}
		if todo.fix, err = attrsAfterWrite(ctx, h, m.Path, m.Attrs); err != nil {
			return err
		}
	}
	if !todo.remove {
		if err := applyAttrs(ctx, h, m.Path, todo.fix); err != nil {
			return err
		}
	}
	s, err := m.read(ctx, c)
	if err != nil {
		return err
	}
	if todo.remove {
		s = privkeyState{}
	}
	m.setResult(s, backup)
	return nil
}

// write makes a new key, or rewrites the existing one in the format asked
// (convert), in a private directory beside the file, renamed into place:
// the key is never half-written and, unencrypted, only ever in a pipe.
// As Ansible's atomic_move, a replaced file keeps its owner.
func (m *OpenSSLPrivateKey) write(ctx context.Context, h modules.Host, convert bool) error {
	typ, source := m.Type, m.genCommand()
	opts := m.passOpts()
	if convert {
		s, err := m.read(ctx, h.Conn())
		if err != nil {
			return err
		}
		typ = s.info.typ
		switch {
		case s.format == "raw":
			// Raw keys have no passphrase: stdin is free for the key.
			source = "openssl pkey -inform DER"
			opts = []conn.ExecOption{conn.Stdin(bytes.NewReader(append(append([]byte{}, rawKeyPrefixes[rawKeyType(len(s.data), m.Type)]...), s.data...)))}
		case m.Passphrase != "":
			source = `openssl pkey -in "$f" -passin env:` + passEnv
		default:
			source = `openssl pkey -in "$f" -passin pass:`
		}
	}
	script := m.passPrelude() + `set -e
umask 077
f=` + conn.Quote(m.Path) + `
d=$(mktemp -d "$(dirname -- "$f")/.gpuctl-privatekey.XXXXXX")
trap 'rm -rf -- "$d"' EXIT
` + source + ` 2>>"$d/err" | ` + m.writeCommand(typ) + `
[ -s "$d/key" ] || { cat "$d/err" >&2; exit 1; }
if [ -e "$f" ]; then chown --reference="$f" "$d/key"; fi
mv -f -- "$d/key" "$f"`
	if _, err := conn.Output(ctx, h.Conn(), script, opts...); err != nil {
		return fmt.Errorf("openssl: write %s: %w", m.Path, err)
	}
	return nil
}

// setResult is the collection's dump(): type, size (and curve) as asked,
// the key's fingerprints, the backup made and, with return_content, the
// file (base64 when raw; None when there is none).
func (m *OpenSSLPrivateKey) setResult(s privkeyState, backup string) {
	m.result = map[string]any{"type": m.Type, "size": m.Size, "filename": m.Path, "fingerprint": nil}
	if m.Type == "ECC" {
		m.result["curve"] = m.Curve
	}
	if s.loaded {
		m.result["fingerprint"] = keyFingerprints(s.der)
	}
	if backup != "" {
		m.result["backup_file"] = backup
	}
	if m.ReturnContent {
		switch {
		case !s.exists || len(s.data) == 0:
			m.result["privatekey"] = nil
		case s.format == "raw":
			m.result["privatekey"] = base64.StdEncoding.EncodeToString(s.data)
		default:
			m.result["privatekey"] = string(s.data)
		}
	}
}

var (
	_ modules.Module      = (*OpenSSLPrivateKey)(nil)
	_ modules.Provisioner = (*OpenSSLPrivateKey)(nil)
	_ modules.Resulter    = (*OpenSSLPrivateKey)(nil)
)

// SecretResults is the private key returned with return_content, for the
// engine to mask (modules.SecretResults).
func (m *OpenSSLPrivateKey) SecretResults() []string {
	if k, ok := m.result["privatekey"].(string); ok && k != "" {
		return []string{k}
	}
	return nil
}

var _ modules.SecretResults = (*OpenSSLPrivateKey)(nil)
