package pyre

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"golang.org/x/text/unicode/runenames"
)

// Template is a parsed re.sub replacement: literal text and group references.
type Template struct {
	parts []tplPart
}

type tplPart struct {
	lit   string
	group int // -1 for literal text
}

// ParseTemplate parses repl as Python's re.sub reads a replacement string for r: \1 to \99
// and \g<1> or \g<name> are groups, \n, \t, \\ and the other standard escapes are
// characters, \0 and three octal digits are octal, an unknown escape of an ASCII letter is
// an error, and any other backslash stays.
func (r *Regexp) ParseTemplate(repl string) (*Template, error) {
	src := []rune(repl)
	t := &Template{}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			t.parts = append(t.parts, tplPart{lit: lit.String(), group: -1})
			lit.Reset()
		}
	}
	bad := func(pos int, format string, args ...any) error {
		return &Error{Pattern: repl, Msg: fmt.Sprintf(format, args...) + " in the replacement", Pos: pos}
	}
	group := func(n, pos int) error {
		if n > r.groups {
			return bad(pos, "invalid group reference %d", n)
		}
		flush()
		t.parts = append(t.parts, tplPart{group: n})
		return nil
	}
	for i := 0; i < len(src); i++ {
		c := src[i]
		if c != '\\' {
			lit.WriteRune(c)
			continue
		}
		start := i
		i++
		if i >= len(src) {
			return nil, bad(start, "bad escape (end of pattern)")
		}
		c = src[i]
		switch {
		case c == 'g':
			if i+1 >= len(src) || src[i+1] != '<' {
				return nil, bad(i+1, "missing <")
			}
			end := indexRune(src[i+2:], '>')
			if end < 0 {
				return nil, bad(i+2, "missing >, unterminated name")
			}
			name := string(src[i+2 : i+2+end])
			i += 2 + end
			var n int
			if isIdentifier(name) {
				var ok bool
				if n, ok = r.names[name]; !ok {
					return nil, bad(start, "unknown group name %q", name)
				}
			} else {
				var err error
				if n, err = strconv.Atoi(name); err != nil || n < 0 || name == "" {
					return nil, bad(start+3, "bad character in group name %q", name)
				}
			}
			if err := group(n, start+3); err != nil {
				return nil, err
			}
		case c == '0':
			digits := "0"
			for k := 0; k < 2 && i+1 < len(src) && isOct(src[i+1]); k++ {
				i++
				digits += string(src[i])
			}
			v, _ := strconv.ParseUint(digits, 8, 32)
			lit.WriteRune(rune(v & 0xff))
		case isDigit(c):
			digits := string(c)
			if i+1 < len(src) && isDigit(src[i+1]) {
				i++
				digits += string(src[i])
				if isOct(c) && isOct(src[i]) && i+1 < len(src) && isOct(src[i+1]) {
					i++
					digits += string(src[i])
					v, _ := strconv.ParseUint(digits, 8, 32)
					if v > 0o377 {
						return nil, bad(start, "octal escape value \\%s outside of range 0-0o377", digits)
					}
					lit.WriteRune(rune(v))
					continue
				}
			}
			n, _ := strconv.Atoi(digits)
			if err := group(n, start+1); err != nil {
				return nil, err
			}
		default:
			if e, ok := templateEscapes[c]; ok {
				lit.WriteRune(e)
				continue
			}
			if c < 0x80 && unicode.IsLetter(c) {
				return nil, bad(start, "bad escape \\%c", c)
			}
			lit.WriteRune('\\')
			lit.WriteRune(c)
		}
	}
	flush()
	return t, nil
}

var templateEscapes = map[rune]rune{'a': 7, 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t', 'v': '\v', '\\': '\\'}

// Expand is the replacement for m; a group that did not take part gives "" (Python 3.5+).
func (t *Template) Expand(m *Match) string {
	var b strings.Builder
	for _, p := range t.parts {
		if p.group < 0 {
			b.WriteString(p.lit)
			continue
		}
		g, _ := m.Group(p.group)
		b.WriteString(g)
	}
	return b.String()
}

// Sub is re.subn: s with the first count matches (all when count is 0) replaced by repl,
// and the number replaced.
func (r *Regexp) Sub(repl, s string, count int) (string, int, error) {
	t, err := r.ParseTemplate(repl)
	if err != nil {
		return "", 0, err
	}
	all, err := r.FindAll(s)
	if err != nil {
		return "", 0, err
	}
	if count > 0 && len(all) > count {
		all = all[:count]
	}
	var b strings.Builder
	last := 0
	for _, m := range all {
		b.WriteString(s[last:m.Start()])
		b.WriteString(t.Expand(m))
		last = m.End()
	}
	b.WriteString(s[last:])
	return b.String(), len(all), nil
}

var (
	namesOnce sync.Once
	names     map[string]rune
)

// UnicodeName is the character Python's \N{name} names (unicodedata.lookup), or false.
func UnicodeName(name string) (rune, bool) {
	name = strings.ToUpper(strings.TrimSpace(name))
	for _, p := range []string{"CJK UNIFIED IDEOGRAPH-", "CJK COMPATIBILITY IDEOGRAPH-"} {
		if hex, ok := strings.CutPrefix(name, p); ok {
			v, err := strconv.ParseUint(hex, 16, 32)
			if err != nil || runenames.Name(rune(v)) == "" {
				return 0, false
			}
			return rune(v), true
		}
	}
	namesOnce.Do(func() {
		names = make(map[string]rune, 40000)
		for r := rune(0); r <= unicode.MaxRune; r++ {
			if r == 0xd800 {
				r = 0xe000
			}
			if n := runenames.Name(r); n != "" && n[0] != '<' {
				names[n] = r
			}
		}
	})
	r, ok := names[name]
	return r, ok
}
