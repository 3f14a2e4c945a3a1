package vault

import (
	"bytes"
	"os"
	"testing"
)

// FuzzDecrypt feeds arbitrary envelopes: Decrypt must return an error, never
// panic, and anything that decrypts must be what was sealed.
func FuzzDecrypt(f *testing.F) {
	for _, name := range []string{"file-1.1.vault", "file-1.2-prod.vault", "string-1.1.vault", "empty-1.1.vault"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("$ANSIBLE_VAULT;1.1;AES256\n"))
	f.Add([]byte("$ANSIBLE_VAULT;1.2;AES256;x;y\n00"))
	secrets := []Secret{defaultPw, prodPw}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = ParseEnvelope(data)
		out, err := Decrypt(data, secrets)
		if err != nil {
			return
		}
		again, err := Encrypt(out, defaultPw, bytes.Repeat([]byte{1}, 32))
		if err != nil {
			t.Fatal(err)
		}
		if back, err := Decrypt(again, secrets); err != nil || !bytes.Equal(back, out) {
			t.Fatalf("round trip: %q, %v", back, err)
		}
	})
}
