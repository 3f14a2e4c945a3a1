package generic

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha3"
	"crypto/sha512"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/blake2b"
	"golang.org/x/crypto/blake2s"
)

// What community.crypto's module_utils decide about a private key file,
// ported to pure functions over its bytes and over the DER public key
// openssl prints for it, so they can be tested and fuzzed without a host.

// pemFormat is the collection's identify_private_key_format: pkcs8,
// pkcs1 (any "... PRIVATE KEY" besides PKCS#8's names: RSA, EC, DSA),
// unknown-pem, or raw for bytes that are not a PEM text.
func pemFormat(data []byte) string {
	text := string(data)
	if !utf8.Valid(data) {
		return "raw"
	}
	first, _, _ := strings.Cut(text, "\n")
	first = strings.TrimSuffix(first, "\r")
	const start, end = "-----BEGIN ", "-----"
	if strings.HasPrefix(first, start) && strings.HasSuffix(first, end) && len(first) > len(start)+len(end) {
		name := first[len(start) : len(first)-len(end)]
		switch {
		case name == "PRIVATE KEY" || name == "ENCRYPTED PRIVATE KEY":
			return "pkcs8"
		case len(name) > len(" PRIVATE KEY") && strings.HasSuffix(name, " PRIVATE KEY"):
			return "pkcs1"
		}
		return "unknown-pem"
	}
	return "raw"
}

// pemEncrypted says whether a PEM key needs a passphrase: PKCS#8's
// ENCRYPTED PRIVATE KEY, or a traditional key with a Proc-Type header.
func pemEncrypted(data []byte) bool {
	first, rest, _ := strings.Cut(string(data), "\n")
	return strings.Contains(first, "ENCRYPTED PRIVATE KEY") || strings.Contains(rest, "Proc-Type: 4,ENCRYPTED")
}

// rawKeyPrefixes turn a raw private key (cryptography's Raw format) into
// PKCS#8 DER, which openssl reads: the prefix is the whole structure up to
// the key's octets.
var rawKeyPrefixes = map[string][]byte{
	"X25519":  {0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20},
	"Ed25519": {0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20},
	"X448":    {0x30, 0x46, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6f, 0x04, 0x3a, 0x04, 0x38},
	"Ed448":   {0x30, 0x47, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x71, 0x04, 0x3b, 0x04, 0x39},
}

// rawKeyLen is each type's raw private key length.
var rawKeyLen = map[string]int{"X25519": 32, "Ed25519": 32, "X448": 56, "Ed448": 57}

// rawKeyType is the collection's _load_privatekey for raw bytes: 56 bytes
// are X448, 57 Ed448, 32 the type asked when it is Ed25519, else X25519.
func rawKeyType(n int, want string) string {
	switch n {
	case 56:
		return "X448"
	case 57:
		return "Ed448"
	case 32:
		if want == "Ed25519" {
			return "Ed25519"
		}
		return "X25519"
	}
	return ""
}

// pubKeyInfo is what a SubjectPublicKeyInfo says of a key: the
// collection's type, the size cryptography's key_size gives (bits of the
// RSA modulus, of the DSA prime), and the curve of an EC key.
type pubKeyInfo struct {
	typ, curve string
	size       int
}

var (
	oidRSA     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidDSA     = asn1.ObjectIdentifier{1, 2, 840, 10040, 4, 1}
	oidEC      = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	oidX25519  = asn1.ObjectIdentifier{1, 3, 101, 110}
	oidX448    = asn1.ObjectIdentifier{1, 3, 101, 111}
	oidEd25519 = asn1.ObjectIdentifier{1, 3, 101, 112}
	oidEd448   = asn1.ObjectIdentifier{1, 3, 101, 113}
)

// ecCurves are the collection's curve choices: their OIDs, and the name
// openssl genpkey takes.
var ecCurves = []struct {
	name, openssl string
	oid           asn1.ObjectIdentifier
}{
	{"secp224r1", "secp224r1", asn1.ObjectIdentifier{1, 3, 132, 0, 33}},
	{"secp256k1", "secp256k1", asn1.ObjectIdentifier{1, 3, 132, 0, 10}},
	{"secp256r1", "prime256v1", asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}},
	{"secp384r1", "secp384r1", asn1.ObjectIdentifier{1, 3, 132, 0, 34}},
	{"secp521r1", "secp521r1", asn1.ObjectIdentifier{1, 3, 132, 0, 35}},
	{"secp192r1", "prime192v1", asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 1}},
	{"brainpoolP256r1", "brainpoolP256r1", asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 7}},
	{"brainpoolP384r1", "brainpoolP384r1", asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 11}},
	{"brainpoolP512r1", "brainpoolP512r1", asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 13}},
	{"sect163k1", "sect163k1", asn1.ObjectIdentifier{1, 3, 132, 0, 1}},
	{"sect163r2", "sect163r2", asn1.ObjectIdentifier{1, 3, 132, 0, 15}},
	{"sect233k1", "sect233k1", asn1.ObjectIdentifier{1, 3, 132, 0, 26}},
	{"sect233r1", "sect233r1", asn1.ObjectIdentifier{1, 3, 132, 0, 27}},
	{"sect283k1", "sect283k1", asn1.ObjectIdentifier{1, 3, 132, 0, 16}},
	{"sect283r1", "sect283r1", asn1.ObjectIdentifier{1, 3, 132, 0, 17}},
	{"sect409k1", "sect409k1", asn1.ObjectIdentifier{1, 3, 132, 0, 36}},
	{"sect409r1", "sect409r1", asn1.ObjectIdentifier{1, 3, 132, 0, 37}},
	{"sect571k1", "sect571k1", asn1.ObjectIdentifier{1, 3, 132, 0, 38}},
	{"sect571r1", "sect571r1", asn1.ObjectIdentifier{1, 3, 132, 0, 39}},
}

// parseSPKI reads a DER SubjectPublicKeyInfo.
func parseSPKI(der []byte) (pubKeyInfo, error) {
	var spki struct {
		Algorithm struct {
			OID    asn1.ObjectIdentifier
			Params asn1.RawValue `asn1:"optional"`
		}
		Key asn1.BitString
	}
	var k pubKeyInfo
	if rest, err := asn1.Unmarshal(der, &spki); err != nil {
		return k, fmt.Errorf("public key: %w", err)
	} else if len(rest) > 0 {
		return k, errors.New("public key: trailing data")
	}
	alg := spki.Algorithm.OID
	switch {
	case alg.Equal(oidRSA):
		var pub struct{ N, E asn1.RawValue }
		if _, err := asn1.Unmarshal(spki.Key.Bytes, &pub); err != nil {
			return k, fmt.Errorf("RSA public key: %w", err)
		}
		k.typ, k.size = "RSA", intBits(pub.N.Bytes)
	case alg.Equal(oidDSA):
		var params struct{ P, Q, G asn1.RawValue }
		if _, err := asn1.Unmarshal(spki.Algorithm.Params.FullBytes, &params); err != nil {
			return k, fmt.Errorf("DSA parameters: %w", err)
		}
		k.typ, k.size = "DSA", intBits(params.P.Bytes)
	case alg.Equal(oidEC):
		var curve asn1.ObjectIdentifier
		if _, err := asn1.Unmarshal(spki.Algorithm.Params.FullBytes, &curve); err != nil {
			return k, fmt.Errorf("EC curve: %w", err)
		}
		k.typ = "ECC"
		for _, c := range ecCurves {
			if c.oid.Equal(curve) {
				k.curve = c.name
			}
		}
		if k.curve == "" {
			k.curve = curve.String()
		}
	case alg.Equal(oidX25519):
		k.typ = "X25519"
	case alg.Equal(oidX448):
		k.typ = "X448"
	case alg.Equal(oidEd25519):
		k.typ = "Ed25519"
	case alg.Equal(oidEd448):
		k.typ = "Ed448"
	default:
		return k, fmt.Errorf("public key algorithm %s is none the module knows", alg)
	}
	return k, nil
}

// intBits is the bit length of a DER INTEGER's big-endian bytes.
func intBits(b []byte) int {
	for len(b) > 0 && b[0] == 0 {
		b = b[1:]
	}
	if len(b) == 0 {
		return 0
	}
	n := (len(b) - 1) * 8
	for v := b[0]; v > 0; v >>= 1 {
		n++
	}
	return n
}

// keyFingerprints is the collection's get_fingerprint_of_bytes over the
// DER public key: every hash of Python's hashlib.algorithms_guaranteed,
// as colon-separated hex (the SHAKEs with 32-byte digests).
func keyFingerprints(der []byte) map[string]any {
	hashes := map[string]func() hash.Hash{
		"md5": md5.New, "sha1": sha1.New, "sha224": sha256.New224, "sha256": sha256.New,
		"sha384": sha512.New384, "sha512": sha512.New,
		"sha3_224": func() hash.Hash { return sha3.New224() }, "sha3_256": func() hash.Hash { return sha3.New256() },
		"sha3_384": func() hash.Hash { return sha3.New384() }, "sha3_512": func() hash.Hash { return sha3.New512() },
		"blake2b": func() hash.Hash { h, _ := blake2b.New512(nil); return h },
		"blake2s": func() hash.Hash { h, _ := blake2s.New256(nil); return h },
	}
	out := map[string]any{}
	for name, f := range hashes {
		h := f()
		h.Write(der)
		out[name] = colonHex(h.Sum(nil))
	}
	out["shake_128"] = colonHex(sha3.SumSHAKE128(der, 32))
	out["shake_256"] = colonHex(sha3.SumSHAKE256(der, 32))
	return out
}

func colonHex(b []byte) string {
	s := hex.EncodeToString(b)
	parts := make([]string, 0, len(b))
	for i := 0; i < len(s); i += 2 {
		parts = append(parts, s[i:i+2])
	}
	return strings.Join(parts, ":")
}
