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
	"strconv"
	"strings"

	"github.com/gpuctl/gpuctl/internal/pyre"
)

// pyRegexp compiles a Python pattern, as Ansible's filters and tests hand it to re, with
// their ignorecase and multiline arguments.
func pyRegexp(pat string, ignorecase, multiline any) (*pyre.Regexp, error) {
	var f pyre.Flags
	if Truthy(ignorecase) {
		f |= pyre.IgnoreCase
	}
	if Truthy(multiline) {
		f |= pyre.Multiline
	}
	return pyre.Compile(pat, f)
}

// regexReplace is regex_replace(pattern, replacement, ignorecase, multiline): re.sub.
func regexReplace(in any, args []any, kw map[string]any) (any, error) {
	pat := toString(argOr(args, kw, 0, "pattern", ""))
	repl := toString(argOr(args, kw, 1, "replacement", ""))
	re, err := pyRegexp(pat, argOr(args, kw, 2, "ignorecase", false), argOr(args, kw, 3, "multiline", false))
	if err != nil {
		return nil, err
	}
	out, _, err := re.Sub(repl, toString(in), 0)
	return out, err
}

// regexSearch is regex_search(regex, '\\1', '\\g<name>', ..., ignorecase=, multiline=):
// the match, or the listed groups of it, or None.
func regexSearch(in any, args []any, kw map[string]any) (any, error) {
	if len(args) < 1 {
		return nil, errors.New("needs a pattern")
	}
	re, err := pyRegexp(toString(args[0]), kw["ignorecase"], kw["multiline"])
	if err != nil {
		return nil, err
	}
	var groups []int
	for _, a := range args[1:] {
		s := toString(a)
		var n int
		switch {
		case strings.HasPrefix(s, `\g<`) && strings.HasSuffix(s, ">"):
			name := s[3 : len(s)-1]
			var ok bool
			if n, ok = re.GroupIndex(name); !ok {
				return nil, fmt.Errorf("no such group %q", name)
			}
		case strings.HasPrefix(s, `\`):
			if n, err = strconv.Atoi(strings.TrimLeft(s[1:], " ")); err != nil {
				return nil, errors.New("Unknown argument")
			}
		default:
			return nil, errors.New("Unknown argument")
		}
		groups = append(groups, n)
	}
	m, err := re.Search(toString(in))
	if m == nil || err != nil {
		return nil, err
	}
	if len(groups) == 0 {
		g, _ := m.Group(0)
		return g, nil
	}
	out := make([]any, len(groups))
	for i, n := range groups {
		if n > re.NumGroups() {
			return nil, errors.New("no such group")
		}
		if g, ok := m.Group(n); ok {
			out[i] = g
		}
	}
	return out, nil
}

// regexFindall is regex_findall(regex, multiline, ignorecase): re.findall.
func regexFindall(in any, args []any, kw map[string]any) (any, error) {
	if len(args) < 1 {
		return nil, errors.New("needs a pattern")
	}
	re, err := pyRegexp(toString(args[0]), argOr(args, kw, 2, "ignorecase", false), argOr(args, kw, 1, "multiline", false))
	if err != nil {
		return nil, err
	}
	all, err := re.FindAll(toString(in))
	if err != nil {
		return nil, err
	}
	out := []any{}
	for _, m := range all {
		switch n := re.NumGroups(); n {
		case 0, 1:
			g, _ := m.Group(n)
			out = append(out, g)
		default:
			groups := make([]any, n)
			for i := range groups {
				groups[i], _ = m.Group(i + 1)
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

// regexTest is Ansible's search, match and regex tests: regex's match_type names the
// re method (search, match, fullmatch).
func regexTest(mode string) func(in any, args []any, kw map[string]any) (bool, error) {
	return func(in any, args []any, kw map[string]any) (bool, error) {
		if len(args) < 1 {
			return false, errors.New("needs a pattern")
		}
		how := mode
		if m, ok := argOr(args, kw, 3, "match_type", mode).(string); ok {
			how = m
		}
		re, err := pyRegexp(toString(args[0]), argOr(args, kw, 1, "ignorecase", false), argOr(args, kw, 2, "multiline", false))
		if err != nil {
			return false, err
		}
		var m *pyre.Match
		switch how {
		case "match":
			m, err = re.Match(toString(in))
		case "fullmatch":
			m, err = re.FullMatch(toString(in))
		default:
			m, err = re.Search(toString(in))
		}
		return m != nil, err
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

// commentFilter is Ansible's comment filter: text made a comment block in
// one of its styles (plain #, erlang %, c //, cblock /* */, xml <!-- -->),
// with its keyword overrides (decoration, beginning, end, prefix,
// prefix_count, postfix, postfix_count, newline), as ansible-core builds it.
func commentFilter(in any, args []any, kw map[string]any) (any, error) {
	styles := map[string]map[string]string{
		"plain":  {"decoration": "# "},
		"erlang": {"decoration": "% "},
		"c":      {"decoration": "// "},
		"cblock": {"beginning": "/*", "decoration": " * ", "end": " */"},
		"xml":    {"beginning": "<!--", "decoration": " - ", "end": "-->"},
	}
	style := toString(argOr(args, kw, 0, "style", "plain"))
	sp, ok := styles[style]
	if !ok {
		return nil, fmt.Errorf("comment: unknown style %q (plain, erlang, c, cblock, xml)", style)
	}
	prepost := sp["decoration"]
	if d, ok := kw["decoration"]; ok {
		prepost = toString(d)
	}
	p := map[string]string{"newline": "\n", "beginning": "", "prefix": strings.TrimRight(prepost, " \t\n"),
		"decoration": "", "postfix": strings.TrimRight(prepost, " \t\n"), "end": ""}
	counts := map[string]int{"prefix_count": 1, "postfix_count": 1}
	for k, v := range sp {
		p[k] = v
	}
	for k, v := range kw {
		if _, isCount := counts[k]; isCount {
			n, err := strconv.Atoi(toString(v))
			if err != nil {
				return nil, fmt.Errorf("comment: %s %v is not a number", k, v)
			}
			counts[k] = n
			continue
		}
		p[k] = toString(v)
	}
	nl, dec := p["newline"], p["decoration"]
	var b strings.Builder
	if p["beginning"] != "" {
		b.WriteString(p["beginning"] + nl)
	}
	if p["prefix"] != "" {
		if p["prefix"] != nl {
			b.WriteString(strings.Repeat(p["prefix"]+nl, max(counts["prefix_count"], 0)))
		} else {
			b.WriteString(strings.Repeat(nl, max(counts["prefix_count"], 0)))
		}
	}
	text := dec + strings.ReplaceAll(toString(in), nl, nl+dec)
	b.WriteString(strings.ReplaceAll(text, dec+nl, strings.TrimRight(dec, " \t\n")+nl))
	for range max(counts["postfix_count"], 0) {
		b.WriteString(nl + p["postfix"])
	}
	if p["end"] != "" {
		b.WriteString(nl + p["end"])
	}
	return b.String(), nil
}
