// Package vault reads Ansible Vault data: the "$ANSIBLE_VAULT;1.1;AES256"
// and "$ANSIBLE_VAULT;1.2;AES256;label" envelopes that ansible-vault writes,
// for whole files and for `!vault |` values inside YAML. The cipher is the one
// ansible-core's VaultAES256 uses: PBKDF2-HMAC-SHA256 (10000 iterations) gives
// an AES-256 key, an HMAC-SHA256 key and a CTR counter; the payload is
// hex(hex(salt) "\n" hex(hmac) "\n" hex(ciphertext)), wrapped at 80 columns.
package vault

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Header starts every vault envelope.
const Header = "$ANSIBLE_VAULT"

const (
	iterations = 10000
	keyLen     = 32
	ivLen      = aes.BlockSize
)

var (
	// ErrFormat is wrapped when data looks like a vault envelope but cannot be read.
	ErrFormat = errors.New("vault format error")
	// ErrNoSecret is wrapped when encrypted data is met and no vault password was given.
	ErrNoSecret = errors.New("no vault password was given (use --vault-password-file, --vault-id or --ask-vault-pass)")
	// ErrDecrypt is wrapped when no given password decrypts the data.
	ErrDecrypt = errors.New("no vault password given decrypts it (wrong password?)")
)

// Secret is one vault password with the label it was given under
// (--vault-id label@source); "default" when none was given.
type Secret struct {
	ID       string
	Password []byte
}

// Envelope is the parsed header and payload of vault data.
type Envelope struct {
	Version string // "1.1" or "1.2"
	Cipher  string // "AES256"
	ID      string // the vault id of a 1.2 envelope; "" for 1.1
	Payload []byte // the hex text after the header, newlines removed
}

// IsEncrypted reports whether data is a vault envelope (leading blank space
// allowed, as in a YAML block scalar).
func IsEncrypted(data []byte) bool {
	return bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte(Header))
}

// ParseEnvelope splits vault data into header fields and payload.
func ParseEnvelope(data []byte) (Envelope, error) {
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	fields := strings.Split(strings.TrimSpace(lines[0]), ";")
	if fields[0] != Header {
		return Envelope{}, fmt.Errorf("%w: does not start with %s", ErrFormat, Header)
	}
	if len(fields) < 3 || len(fields) > 4 {
		return Envelope{}, fmt.Errorf("%w: header %q: want $ANSIBLE_VAULT;VERSION;CIPHER[;ID]", ErrFormat, lines[0])
	}
	env := Envelope{Version: strings.TrimSpace(fields[1]), Cipher: strings.TrimSpace(fields[2])}
	if len(fields) == 4 {
		env.ID = strings.TrimSpace(fields[3])
	}
	if env.Version != "1.1" && env.Version != "1.2" {
		return Envelope{}, fmt.Errorf("%w: version %q (gpuctl reads 1.1 and 1.2)", ErrFormat, env.Version)
	}
	if env.Cipher != "AES256" {
		return Envelope{}, fmt.Errorf("%w: cipher %q (gpuctl reads AES256, as ansible-core)", ErrFormat, env.Cipher)
	}
	var payload strings.Builder
	for _, l := range lines[1:] {
		payload.WriteString(strings.TrimSpace(l))
	}
	env.Payload = []byte(payload.String())
	return env, nil
}

// sealed is the decoded payload: salt, HMAC and ciphertext.
type sealed struct {
	salt, mac, ciphertext []byte
}

func parsePayload(p []byte) (sealed, error) {
	inner, err := hex.DecodeString(string(p))
	if err != nil {
		return sealed{}, fmt.Errorf("%w: payload is not hex: %w", ErrFormat, err)
	}
	parts := bytes.SplitN(inner, []byte("\n"), 3)
	if len(parts) != 3 {
		return sealed{}, fmt.Errorf("%w: payload needs salt, hmac and ciphertext lines", ErrFormat)
	}
	var s sealed
	for i, dst := range []*[]byte{&s.salt, &s.mac, &s.ciphertext} {
		if *dst, err = hex.DecodeString(string(parts[i])); err != nil {
			return sealed{}, fmt.Errorf("%w: payload part %d is not hex: %w", ErrFormat, i+1, err)
		}
	}
	if len(s.mac) != sha256.Size {
		return sealed{}, fmt.Errorf("%w: hmac is %d bytes, want %d", ErrFormat, len(s.mac), sha256.Size)
	}
	return s, nil
}

// deriveKeys is ansible-core's _gen_key_initctr.
func deriveKeys(password, salt []byte) (aesKey, macKey, iv []byte, err error) {
	k, err := pbkdf2.Key(sha256.New, string(password), salt, iterations, 2*keyLen+ivLen)
	if err != nil {
		return nil, nil, nil, err
	}
	return k[:keyLen], k[keyLen : 2*keyLen], k[2*keyLen:], nil
}

// Decrypt opens vault data with the first secret that fits. As ansible-core
// does, a secret whose ID matches the envelope's vault id is tried first,
// then every other one.
func Decrypt(data []byte, secrets []Secret) ([]byte, error) {
	env, err := ParseEnvelope(data)
	if err != nil {
		return nil, err
	}
	s, err := parsePayload(env.Payload)
	if err != nil {
		return nil, err
	}
	if len(secrets) == 0 {
		return nil, ErrNoSecret
	}
	for _, sec := range ordered(secrets, env.ID) {
		if out, ok, err := s.open(sec.Password); err != nil {
			return nil, err
		} else if ok {
			return out, nil
		}
	}
	if env.ID != "" {
		return nil, fmt.Errorf("%w (vault id %q)", ErrDecrypt, env.ID)
	}
	return nil, ErrDecrypt
}

func ordered(secrets []Secret, id string) []Secret {
	var first, rest []Secret
	for _, s := range secrets {
		if id != "" && s.ID == id {
			first = append(first, s)
		} else {
			rest = append(rest, s)
		}
	}
	return append(first, rest...)
}

// open checks the HMAC (constant time) and decrypts; ok is false when the
// password does not fit.
func (s sealed) open(password []byte) (out []byte, ok bool, err error) {
	aesKey, macKey, iv, err := deriveKeys(password, s.salt)
	if err != nil {
		return nil, false, err
	}
	m := hmac.New(sha256.New, macKey)
	m.Write(s.ciphertext)
	if subtle.ConstantTimeCompare(m.Sum(nil), s.mac) != 1 {
		return nil, false, nil
	}
	block, err := aes.NewCipher(aesKey)
	if err != nil {
		return nil, false, err
	}
	plain := make([]byte, len(s.ciphertext))
	cipher.NewCTR(block, iv).XORKeyStream(plain, s.ciphertext)
	plain, err = unpad(plain)
	if err != nil {
		return nil, false, err
	}
	return plain, true, nil
}

// unpad removes PKCS#7 padding (ansible pads to the AES block size even
// though CTR needs none).
func unpad(b []byte) ([]byte, error) {
	if len(b) == 0 || len(b)%aes.BlockSize != 0 {
		return nil, fmt.Errorf("%w: ciphertext length %d is not a multiple of %d", ErrFormat, len(b), aes.BlockSize)
	}
	n := int(b[len(b)-1])
	if n == 0 || n > aes.BlockSize || !bytes.Equal(b[len(b)-n:], bytes.Repeat([]byte{byte(n)}, n)) {
		return nil, fmt.Errorf("%w: bad padding", ErrFormat)
	}
	return b[:len(b)-n], nil
}

// Encrypt seals plaintext as ansible-vault does, with the given salt (32
// random bytes in ansible-vault). id "" writes a 1.1 envelope, otherwise 1.2.
// gpuctl only reads vaults; this exists for tests and fuzzing round trips.
func Encrypt(plaintext []byte, sec Secret, salt []byte) ([]byte, error) {
	aesKey, macKey, iv, err := deriveKeys(sec.Password, salt)
	if err != nil {
		return nil, err
	}
	n := aes.BlockSize - len(plaintext)%aes.BlockSize
	padded := append(bytes.Clone(plaintext), bytes.Repeat([]byte{byte(n)}, n)...)
	block, err := aes.NewCipher(aesKey)
	if err != nil {
		return nil, err
	}
	ct := make([]byte, len(padded))
	cipher.NewCTR(block, iv).XORKeyStream(ct, padded)
	m := hmac.New(sha256.New, macKey)
	m.Write(ct)
	inner := strings.Join([]string{hex.EncodeToString(salt), hex.EncodeToString(m.Sum(nil)), hex.EncodeToString(ct)}, "\n")
	payload := hex.EncodeToString([]byte(inner))
	var out strings.Builder
	if sec.ID == "" || sec.ID == "default" {
		out.WriteString(Header + ";1.1;AES256\n")
	} else {
		out.WriteString(Header + ";1.2;AES256;" + sec.ID + "\n")
	}
	for len(payload) > 80 {
		out.WriteString(payload[:80] + "\n")
		payload = payload[80:]
	}
	out.WriteString(payload + "\n")
	return []byte(out.String()), nil
}
