package generic

import (
	"testing"

	"github.com/gpuctl/gpuctl/modules/moduletest"
)

func TestOpenSSLDHParamBadArgs(t *testing.T) {
	for _, tc := range []struct {
		args map[string]any
		want string
	}{
		{map[string]any{"path": "dh.pem"}, "must be absolute"},
		{map[string]any{"path": "/dh.pem", "size": 0}, "positive"},
		{map[string]any{"path": "/dh.pem", "select_crypto_backend": "cryptography"}, "Python cryptography library"},
		{map[string]any{"path": "/dh.pem", "select_crypto_backend": "pyopenssl"}, "select_crypto_backend"},
		{map[string]any{"path": "/dh.pem", "mode": "0999"}, "mode"},
		{map[string]any{"path": "/dh.pem", "state": "gone"}, "state"},
	} {
		moduletest.BadArgs(t, "openssl_dhparam", tc.args, tc.want)
	}
}

func TestOpenSSLPrivateKeyBadArgs(t *testing.T) {
	for _, tc := range []struct {
		args map[string]any
		want string
	}{
		{map[string]any{"path": "key.pem"}, "must be absolute"},
		{map[string]any{"path": "/k", "type": "ECC"}, "missing: curve"},
		{map[string]any{"path": "/k", "type": "ECC", "curve": "P-256"}, "curve"},
		{map[string]any{"path": "/k", "passphrase": "x"}, "required together: cipher, passphrase"},
		{map[string]any{"path": "/k", "passphrase": "x", "cipher": "aes256"}, `only use "auto" for cipher`},
		{map[string]any{"path": "/k", "passphrase": "a\nb", "cipher": "auto"}, "line break"},
		{map[string]any{"path": "/k", "type": "Ed25519", "format": "pkcs1"}, `required format "pkcs1"`},
		{map[string]any{"path": "/k", "format": "raw"}, `required format "raw"`},
		{map[string]any{"path": "/k", "type": "X25519", "format": "raw", "passphrase": "x", "cipher": "auto"}, `required format "raw"`},
		{map[string]any{"path": "/k", "size": 256}, "at least 512-bits"},
		{map[string]any{"path": "/k", "type": "DSA", "size": 1536}, "1024, 2048, 3072, or 4096"},
		{map[string]any{"path": "/k", "type": "RSA2"}, "type"},
		{map[string]any{"path": "/k", "regenerate": "sometimes"}, "regenerate"},
		{map[string]any{"path": "/k", "format": "der"}, "format"},
	} {
		moduletest.BadArgs(t, "openssl_privatekey", tc.args, tc.want)
	}
}
