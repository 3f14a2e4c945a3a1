package template

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
)

// pyRegexp compiles a Python pattern with Ansible's ignorecase and
// multiline flags.
func pyRegexp(pat string, kw map[string]any) (*regexp.Regexp, error) {
	flags := ""
	if Truthy(kw["ignorecase"]) {
		flags += "i"
	}
	if Truthy(kw["multiline"]) {
		flags += "m"
	}
	if flags != "" {
		pat = "(?" + flags + ")" + pat
	}
	return regexp.Compile(pat)
}

func regexFindall(in any, args []any, kw map[string]any) (any, error) {
	if len(args) < 1 {
		return nil, errors.New("needs a pattern")
	}
	re, err := pyRegexp(toString(args[0]), kw)
	if err != nil {
		return nil, err
	}
	out := []any{}
	for _, m := range re.FindAllStringSubmatch(toString(in), -1) {
		switch len(m) {
		case 1:
			out = append(out, m[0])
		case 2:
			out = append(out, m[1])
		default:
			groups := make([]any, len(m)-1)
			for i, g := range m[1:] {
				groups[i] = g
			}
			out = append(out, groups)
		}
	}
	return out, nil
}

// regexEscape escapes what Python's re.escape escapes (3.7+), which is
// more than Go's QuoteMeta (space, #, &, ~, -).
func regexEscape(in any, args []any, kw map[string]any) (any, error) {
	var b strings.Builder
	for _, r := range toString(in) {
		if strings.ContainsRune("()[]{}?*+-|^$\\.&~# \t\n\r\v\f", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String(), nil
}

// regexTest is Ansible's search, match and regex tests.
func regexTest(mode string) func(in any, args []any, kw map[string]any) (bool, error) {
	return func(in any, args []any, kw map[string]any) (bool, error) {
		if len(args) < 1 {
			return false, errors.New("needs a pattern")
		}
		how := mode
		if m, ok := kw["match_type"].(string); ok {
			how = m
		}
		kw = map[string]any{"ignorecase": argOr(args, kw, 1, "ignorecase", false), "multiline": argOr(args, kw, 2, "multiline", false)}
		pat := toString(args[0])
		if how == "match" {
			pat = `\A(?:` + pat + `)`
		}
		re, err := pyRegexp(pat, kw)
		if err != nil {
			return false, err
		}
		return re.MatchString(toString(in)), nil
	}
}

func hashOf(name string) (hash.Hash, error) {
	switch name {
	case "sha1":
		return sha1.New(), nil
	case "md5":
		return md5.New(), nil
	case "sha224":
		return sha256.New224(), nil
	case "sha256":
		return sha256.New(), nil
	case "sha384":
		return sha512.New384(), nil
	case "sha512":
		return sha512.New(), nil
	}
	return nil, fmt.Errorf("unknown hash type %q", name)
}

func hashFilter(in any, args []any, kw map[string]any) (any, error) {
	name, _ := argOr(args, kw, 0, "hashtype", "sha1").(string)
	h, err := hashOf(name)
	if err != nil {
		return nil, err
	}
	h.Write([]byte(toString(in)))
	return fmt.Sprintf("%x", h.Sum(nil)), nil
}

func splitext(in any, args []any, kw map[string]any) (any, error) {
	p := toString(in)
	ext := path.Ext(p)
	if ext == p || strings.HasSuffix(path.Base(p), ext) && path.Base(p) == ext {
		ext = "" // Python keeps a leading-dot name whole: .bashrc has no extension
	}
	return []any{strings.TrimSuffix(p, ext), ext}, nil
}

// urlsplit returns Python's urlsplit fields, or one of them.
func urlsplit(in any, args []any, kw map[string]any) (any, error) {
	u, err := url.Parse(toString(in))
	if err != nil {
		return nil, err
	}
	var port any
	if p := u.Port(); p != "" {
		port, _ = strconv.Atoi(p)
	}
	var user, pass any
	if u.User != nil {
		user = u.User.Username()
		if p, ok := u.User.Password(); ok {
			pass = p
		}
	}
	var host any
	if h := u.Hostname(); h != "" {
		host = strings.ToLower(h)
	}
	fields := map[string]any{
		"scheme": u.Scheme, "netloc": u.Host, "path": u.EscapedPath(), "query": u.RawQuery,
		"fragment": u.Fragment, "hostname": host, "port": port, "username": user, "password": pass,
	}
	if u.User != nil {
		fields["netloc"] = u.User.String() + "@" + u.Host
	}
	if len(args) > 0 {
		k := toString(args[0])
		v, ok := fields[k]
		if !ok {
			return nil, fmt.Errorf("unknown URL component %q", k)
		}
		return v, nil
	}
	return fields, nil
}
