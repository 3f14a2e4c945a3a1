package generic

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The fingerprints are the collection's get_fingerprint_of_bytes over
// public keys openssl printed; testdata/openssl_privatekey/fingerprints.json
// was written by that Python function (hashlib) on this machine.
func TestKeyFingerprintsLikeCollection(t *testing.T) {
	dir := filepath.Join("testdata", "openssl_privatekey")
	b, err := os.ReadFile(filepath.Join(dir, "fingerprints.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]map[string]string
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	for file, fp := range want {
		der, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		got := keyFingerprints(der)
		if len(got) != len(fp) {
			t.Errorf("%s: %d hashes, collection %d", file, len(got), len(fp))
		}
		for name, v := range fp {
			if got[name] != v {
				t.Errorf("%s %s: %v, collection %s", file, name, got[name], v)
			}
		}
	}
}

func TestParseSPKI(t *testing.T) {
	for file, want := range map[string]pubKeyInfo{
		"rsa1024.der":             {typ: "RSA", size: 1024},
		"dsa1024.der":             {typ: "DSA", size: 1024},
		"ecc-secp384r1.der":       {typ: "ECC", curve: "secp384r1"},
		"ecc-brainpoolP256r1.der": {typ: "ECC", curve: "brainpoolP256r1"},
		"ed448.der":               {typ: "Ed448"},
		"x25519.der":              {typ: "X25519"},
	} {
		der, err := os.ReadFile(filepath.Join("testdata", "openssl_privatekey", file))
		if err != nil {
			t.Fatal(err)
		}
		got, err := parseSPKI(der)
		if err != nil || got != want {
			t.Errorf("%s: %+v %v, want %+v", file, got, err, want)
		}
		if _, err := parseSPKI(der[:len(der)-1]); err == nil {
			t.Errorf("%s: a truncated key parsed", file)
		}
	}
}

// pemFormat is identify_private_key_format: only the first line counts.
func TestPEMFormat(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"-----BEGIN RSA PRIVATE KEY-----\nMII...\n", "pkcs1"},
		{"-----BEGIN EC PRIVATE KEY-----\r\nMII...\r\n", "pkcs1"},
		{"-----BEGIN PRIVATE KEY-----\n", "pkcs8"},
		{"-----BEGIN ENCRYPTED PRIVATE KEY-----\n", "pkcs8"},
		{"-----BEGIN OPENSSH PRIVATE KEY-----\n", "pkcs1"},
		{"-----BEGIN CERTIFICATE-----\n", "unknown-pem"},
		{"-----BEGIN  PRIVATE KEY-----\n", "unknown-pem"},
		{"-----BEGIN -----\n", "raw"},
		{"\n-----BEGIN PRIVATE KEY-----\n", "raw"},
		{"\xff\xfe\x00binary", "raw"},
		{"", "raw"},
	} {
		if got := pemFormat([]byte(tc.in)); got != tc.want {
			t.Errorf("%q: %s, want %s", tc.in, got, tc.want)
		}
	}
	if !pemEncrypted([]byte("-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00\n")) ||
		!pemEncrypted([]byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMII\n")) || pemEncrypted([]byte("-----BEGIN PRIVATE KEY-----\nMII\n")) {
		t.Error("pemEncrypted")
	}
}

func TestParseDHParamCheck(t *testing.T) {
	for _, tc := range []struct {
		out  string
		bits int
		warn bool
	}{
		{"    DH Parameters: (2048 bit)\n    P:\n        00:bd\n    G:    2 (0x2)\nDH parameters appear to be ok.\n", 2048, false},
		{"        PKCS#3 DH Parameters: (1024 bit)\nWARNING: the g value is not a generator\n", 1024, true},
		{"unable to load DH parameters\n", 0, false},
	} {
		if bits, warn := parseDHParamCheck(tc.out); bits != tc.bits || warn != tc.warn {
			t.Errorf("%q: %d %v", tc.out, bits, warn)
		}
	}
}

// The collection's regenerate table, over what the host said of a key.
func TestPrivateKeyDecide(t *testing.T) {
	rsa := privkeyState{exists: true, loaded: true, passOK: true, format: "pkcs1", info: pubKeyInfo{typ: "RSA", size: 2048}}
	locked := privkeyState{exists: true, format: "pkcs8"}
	pkcs8 := rsa
	pkcs8.format = "pkcs8"
	for _, tc := range []struct {
		regen, format, mismatch string
		s                       privkeyState
		size                    int
		gen, conv               bool
		err                     string
	}{
		{"full_idempotence", "auto_ignore", "regenerate", privkeyState{}, 2048, true, false, ""},
		{"never", "auto_ignore", "regenerate", privkeyState{}, 2048, true, false, ""},
		{"full_idempotence", "auto_ignore", "regenerate", rsa, 2048, false, false, ""},
		{"always", "auto_ignore", "regenerate", rsa, 2048, true, false, ""},
		{"full_idempotence", "auto_ignore", "regenerate", rsa, 4096, true, false, ""},
		{"partial_idempotence", "auto_ignore", "regenerate", rsa, 4096, true, false, ""},
		{"fail", "auto_ignore", "regenerate", rsa, 4096, false, false, "wrong type and/or size"},
		{"never", "auto_ignore", "regenerate", rsa, 4096, false, false, ""},
		{"full_idempotence", "auto_ignore", "regenerate", locked, 2048, true, false, ""},
		{"partial_idempotence", "auto_ignore", "regenerate", locked, 2048, false, false, "Unable to read the key"},
		{"never", "auto_ignore", "regenerate", locked, 2048, false, false, "Unable to read the key"},
		{"full_idempotence", "auto_ignore", "regenerate", pkcs8, 2048, false, false, ""},
		{"full_idempotence", "auto", "regenerate", pkcs8, 2048, true, false, ""},
		{"fail", "auto", "regenerate", pkcs8, 2048, false, false, "wrong format"},
		{"never", "auto", "regenerate", pkcs8, 2048, false, false, ""},
		{"full_idempotence", "pkcs8", "regenerate", pkcs8, 2048, false, false, ""},
		{"full_idempotence", "auto", "convert", pkcs8, 2048, false, true, ""},
		{"never", "auto", "convert", pkcs8, 2048, false, true, ""},
	} {
		m := &OpenSSLPrivateKey{Type: "RSA", Size: tc.size, Regenerate: tc.regen, Format: tc.format, FormatMismatch: tc.mismatch}
		gen, conv, err := m.decide(tc.s)
		if gen != tc.gen || conv != tc.conv || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%+v: generate %v convert %v err %v", tc, gen, conv, err)
		}
	}
}

func FuzzParseSPKI(f *testing.F) {
	for _, file := range []string{"rsa1024.der", "dsa1024.der", "ecc-secp384r1.der", "ed448.der"} {
		b, err := os.ReadFile(filepath.Join("testdata", "openssl_privatekey", file))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, der []byte) {
		k, err := parseSPKI(der)
		if err == nil && k.typ == "" {
			t.Fatalf("parsed without a type: %x", der)
		}
		_ = pemFormat(der)
		_ = pemEncrypted(der)
	})
}
