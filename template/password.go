package template

import (
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/GehirnInc/crypt"
	_ "github.com/GehirnInc/crypt/md5_crypt"    // $1$
	_ "github.com/GehirnInc/crypt/sha256_crypt" // $5$
	_ "github.com/GehirnInc/crypt/sha512_crypt" // $6$
)

// hashSchemes are password_hash's types: the crypt ident and Ansible's
// default rounds (ansible.utils.encrypt; a scheme's own default of 5000 is
// not written into the hash).
var hashSchemes = map[string]struct {
	ident  string
	rounds int
}{
	"sha512": {"6", 656000}, "sha512_crypt": {"6", 656000},
	"sha256": {"5", 535000}, "sha256_crypt": {"5", 535000},
	"md5": {"1", 0}, "md5_crypt": {"1", 0},
}

const saltChars = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// passwordHash is Ansible's password_hash(hashtype='sha512', salt=None,
// rounds=None): SHA-crypt or MD5-crypt, a random 16-character salt when
// none is given.
func passwordHash(in any, args []any, kw map[string]any) (any, error) {
	kind := toString(argOr(args, kw, 0, "hashtype", "sha512"))
	scheme, ok := hashSchemes[kind]
	if !ok {
		return nil, fmt.Errorf("password_hash: unsupported hash type %q (gpuctl has sha512, sha256, md5)", kind)
	}
	salt := ""
	if s := argOr(args, kw, 1, "salt", nil); s != nil {
		salt = toString(s)
	} else {
		var err error
		if salt, err = randomString(16, saltChars); err != nil {
			return nil, err
		}
	}
	rounds := scheme.rounds
	if r := argOr(args, kw, 2, "rounds", nil); r != nil {
		n, err := strconv.Atoi(toString(r))
		if err != nil {
			return nil, fmt.Errorf("password_hash: rounds %v: %w", r, err)
		}
		rounds = n
	}
	setting := "$" + scheme.ident + "$"
	if rounds > 0 && rounds != 5000 && scheme.ident != "1" {
		setting += fmt.Sprintf("rounds=%d$", rounds)
	}
	c := crypt.NewFromHash(setting)
	if c == nil {
		return nil, fmt.Errorf("password_hash: no %s implementation", kind)
	}
	return c.Generate([]byte(toString(in)), []byte(setting+salt))
}

func randomString(n int, chars string) (string, error) {
	var b strings.Builder
	for range n {
		i, err := rand.Int(rand.Reader, big.NewInt(int64(len(chars))))
		if err != nil {
			return "", err
		}
		b.WriteByte(chars[i.Int64()])
	}
	return b.String(), nil
}

// charSets are the names lookup('password') takes in chars= (Python's
// string constants).
var charSets = map[string]string{
	"ascii_letters":   "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
	"ascii_lowercase": "abcdefghijklmnopqrstuvwxyz",
	"ascii_uppercase": "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
	"digits":          "0123456789",
	"hexdigits":       "0123456789abcdefABCDEF",
	"octdigits":       "01234567",
	"punctuation":     "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
}

// lookupPassword is lookup('password', 'path length=N chars=a,b'): the
// password kept in a file on the controller, made (and the file written,
// mode 0600) on first use; /dev/null gives a new one every time.
func lookupPassword(vars varGetter, terms []any, kw map[string]any) ([]any, error) {
	var out []any
	for _, t := range terms {
		fields := strings.Fields(toString(t))
		if len(fields) == 0 {
			return nil, errors.New("password lookup needs a path")
		}
		opts := map[string]string{}
		for k, v := range kw {
			opts[k] = toString(v)
		}
		for _, f := range fields[1:] {
			k, v, ok := strings.Cut(f, "=")
			if !ok {
				return nil, fmt.Errorf("password lookup: %q is not key=value", f)
			}
			opts[k] = v
		}
		pw, err := passwordFile(vars, fields[0], opts)
		if err != nil {
			return nil, fmt.Errorf("password lookup: %w", err)
		}
		out = append(out, pw)
	}
	return out, nil
}

func passwordFile(vars varGetter, path string, opts map[string]string) (string, error) {
	for k := range opts {
		switch k {
		case "length", "chars", "encrypt", "seed", "ident":
		default:
			return "", fmt.Errorf("unknown option %q (known: length, chars)", k)
		}
	}
	if opts["encrypt"] != "" || opts["seed"] != "" {
		return "", errors.New("encrypt= and seed= are not supported; use the password_hash filter on the result")
	}
	if !filepath.IsAbs(path) && path != "/dev/null" {
		path = filepath.Join(vars.str("playbook_dir"), path)
	}
	if b, err := os.ReadFile(path); err == nil && path != "/dev/null" {
		pw, _, _ := strings.Cut(strings.TrimRight(string(b), "\n"), " salt=")
		return pw, nil
	}
	length := 20
	if l := opts["length"]; l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 {
			return "", fmt.Errorf("length=%s: want a positive number", l)
		}
		length = n
	}
	chars := charSets["ascii_letters"] + charSets["digits"] + ".,:-_"
	if c := opts["chars"]; c != "" {
		chars = ""
		for _, name := range strings.Split(c, ",") {
			if set, ok := charSets[name]; ok {
				chars += set
			} else {
				chars += name // literal characters
			}
		}
	}
	pw, err := randomString(length, chars)
	if err != nil || path == "/dev/null" {
		return pw, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	return pw, os.WriteFile(path, []byte(pw+"\n"), 0o600)
}
