package generic

import (
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // ldap_sha1 is the scheme the user asked for
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"math/big"
	"slices"
	"strings"

	"github.com/GehirnInc/crypt"
	_ "github.com/GehirnInc/crypt/apr1_crypt"   // $apr1$
	_ "github.com/GehirnInc/crypt/md5_crypt"    // $1$
	_ "github.com/GehirnInc/crypt/sha256_crypt" // $5$
	_ "github.com/GehirnInc/crypt/sha512_crypt" // $6$
	"golang.org/x/crypto/bcrypt"
)

// htpasswdSchemes are the crypt_scheme values gpuctl writes, with passlib's
// defaults (passlib 1.7: salt sizes, rounds, bcrypt's 2b ident and cost 12),
// so a new entry looks as Ansible's would.
var htpasswdSchemes = map[string]func(password string) (string, error){
	"apr_md5_crypt": func(pw string) (string, error) { return htpasswdCrypt("$apr1$", 8, pw) },
	"md5_crypt":     func(pw string) (string, error) { return htpasswdCrypt("$1$", 8, pw) },
	"sha256_crypt":  func(pw string) (string, error) { return htpasswdCrypt("$5$rounds=535000$", 16, pw) },
	"sha512_crypt":  func(pw string) (string, error) { return htpasswdCrypt("$6$rounds=656000$", 16, pw) },
	"bcrypt": func(pw string) (string, error) {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), 12)
		if err != nil {
			return "", err
		}
		// Go writes $2a$; the algorithm is the same as passlib's $2b$.
		return "$2b$" + strings.TrimPrefix(string(h), "$2a$"), nil
	},
	"ldap_sha1": func(pw string) (string, error) { return ldapSHA1(pw), nil },
	"plaintext": func(pw string) (string, error) { return pw, nil },
}

const cryptSaltChars = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func htpasswdCrypt(setting string, saltLen int, pw string) (string, error) {
	var salt strings.Builder
	for range saltLen {
		i, err := rand.Int(rand.Reader, big.NewInt(int64(len(cryptSaltChars))))
		if err != nil {
			return "", err
		}
		salt.WriteByte(cryptSaltChars[i.Int64()])
	}
	c := crypt.NewFromHash(setting)
	if c == nil {
		return "", fmt.Errorf("no implementation of %s", setting)
	}
	return c.Generate([]byte(pw), []byte(setting+salt.String()))
}

func ldapSHA1(pw string) string {
	s := sha1.Sum([]byte(pw)) //nolint:gosec // the user's scheme
	return "{SHA}" + base64.StdEncoding.EncodeToString(s[:])
}

// htpasswdVerify reports whether hash is pw's as passlib's context in
// Ansible's module judges it: the first scheme of the context that
// recognises the hash verifies it, and plaintext recognises anything. The
// context depends on crypt_scheme: for Apache's schemes it is passlib's
// htpasswd context, otherwise crypt_scheme then Apache's schemes. So a
// $1$ hash is compared as plain text unless crypt_scheme is md5_crypt, as
// in Ansible. DES crypt (13 characters) is recognised but never matches
// here (no Go implementation): such an entry is rewritten with crypt_scheme.
func htpasswdVerify(hash, pw, scheme string) bool {
	for _, s := range htpasswdContext(scheme) {
		switch s {
		case "bcrypt":
			for _, p := range []string{"$2$", "$2a$", "$2b$", "$2y$"} {
				if strings.HasPrefix(hash, p) {
					return bcrypt.CompareHashAndPassword([]byte("$2a$"+strings.TrimPrefix(hash, p)), []byte(pw)) == nil
				}
			}
		case "sha256_crypt", "sha512_crypt", "apr_md5_crypt", "md5_crypt":
			if strings.HasPrefix(hash, map[string]string{"sha256_crypt": "$5$", "sha512_crypt": "$6$", "apr_md5_crypt": "$apr1$", "md5_crypt": "$1$"}[s]) {
				c := crypt.NewFromHash(hash)
				return c != nil && c.Verify(hash, []byte(pw)) == nil
			}
		case "des_crypt":
			if isDESCrypt(hash) {
				return false
			}
		case "ldap_sha1":
			if strings.HasPrefix(hash, "{SHA}") {
				return subtle.ConstantTimeCompare([]byte(hash), []byte(ldapSHA1(pw))) == 1
			}
		case "plaintext":
			return subtle.ConstantTimeCompare([]byte(hash), []byte(pw)) == 1
		}
	}
	return false
}

var apacheHashes = []string{"apr_md5_crypt", "des_crypt", "ldap_sha1", "plaintext"}

func htpasswdContext(scheme string) []string {
	if slices.Contains(apacheHashes, scheme) {
		return []string{"bcrypt", "sha256_crypt", "sha512_crypt", "apr_md5_crypt", "des_crypt", "ldap_sha1", "plaintext"}
	}
	return append([]string{scheme}, apacheHashes...)
}

func isDESCrypt(h string) bool {
	if len(h) != 13 {
		return false
	}
	for _, c := range h {
		if !strings.ContainsRune(cryptSaltChars, c) {
			return false
		}
	}
	return true
}
