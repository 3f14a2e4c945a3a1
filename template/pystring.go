package template

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gpuctl/gpuctl/internal/pyre"
)

// literalMode says how the backslashes of a Jinja string literal read.
//
// Jinja2's lexer decodes a literal as Python's "unicode-escape" codec does, after turning
// non-ASCII characters into \x, \u and \U escapes ("backslashreplace"): \n, \t, \\, \',
// \", \x41, \u00e9, \N{BULLET} and octal (\1 is chr(1)) are decoded, an unknown escape
// such as \d or \. keeps its backslash. That is how template files (the template module
// and lookup) and conditions (when:, which Ansible wraps in {% if %}) read.
//
// Ansible's templar, rendering a playbook string that has {{ in it, first doubles every
// backslash inside the string literals of its {{ }} blocks (_escape_backslashes), so that
// a playbook writes regex_replace('(\d+)', '\1') in YAML the way it writes it elsewhere:
// such a literal keeps its backslashes exactly as written.
type literalMode uint8

const (
	jinjaLiterals literalMode = iota // Jinja2: Python's unicode-escape
	rawLiterals                      // Ansible's {{ }} in playbook strings: as written
)

// decodeLiteral is the value of a literal whose text between the quotes is s.
func decodeLiteral(s string, mode literalMode) (string, error) {
	if mode == rawLiterals {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r != '\\' {
			b.WriteRune(r)
			i += n
			continue
		}
		i++
		if i == len(s) {
			return "", errors.New(`\ at end of string`)
		}
		r, n = utf8.DecodeRuneInString(s[i:])
		i += n
		switch r {
		case '\n':
		case '\\', '\'', '"':
			b.WriteRune(r)
		case 'a':
			b.WriteByte(7)
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'v':
			b.WriteByte('\v')
		case '0', '1', '2', '3', '4', '5', '6', '7':
			j := i
			for j < len(s) && j < i+2 && s[j] >= '0' && s[j] <= '7' {
				j++
			}
			v, _ := strconv.ParseUint(string(r)+s[i:j], 8, 32)
			b.WriteRune(rune(v))
			i = j
		case 'x', 'u', 'U':
			n := map[rune]int{'x': 2, 'u': 4, 'U': 8}[r]
			if len(s) < i+n || !allHex(s[i:i+n]) {
				return "", fmt.Errorf(`truncated \%c%s escape`, r, strings.Repeat("X", n))
			}
			v, _ := strconv.ParseUint(s[i:i+n], 16, 32)
			if v > utf8.MaxRune {
				return "", errors.New("illegal Unicode character")
			}
			b.WriteRune(rune(v))
			i += n
		case 'N':
			end := strings.IndexByte(s[i:], '}')
			if !strings.HasPrefix(s[i:], "{") || end < 2 {
				return "", errors.New(`malformed \N character escape`)
			}
			c, ok := pyre.UnicodeName(s[i+1 : i+end])
			if !ok {
				return "", errors.New("unknown Unicode character name")
			}
			b.WriteRune(c)
			i += end + 1
		default:
			// An escape Python does not know keeps its backslash; so does a non-ASCII
			// character after one (backslashreplace made it \xe9, whose \ the \ before
			// it escaped).
			b.WriteByte('\\')
			if r >= 0x80 {
				b.WriteString(backslashReplace(r)[1:])
				continue
			}
			b.WriteRune(r)
		}
	}
	return b.String(), nil
}

func backslashReplace(r rune) string {
	switch {
	case r <= 0xff:
		return fmt.Sprintf(`\x%02x`, r)
	case r <= 0xffff:
		return fmt.Sprintf(`\u%04x`, r)
	}
	return fmt.Sprintf(`\U%08x`, r)
}

func allHex(s string) bool {
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return false
		}
	}
	return true
}

// encodeLiteral writes v as the text of a literal that gonja reads back as v. gonja ends a
// literal at a quote unless a backslash comes just before it, drops the backslash of \'
// and \", and then unquotes the rest as Go does; so every backslash, quote and control
// character is written as a two-digit \x escape, which none of those steps misreads, and
// everything else as itself. Jinja2 reads the result as v too, so rewriting twice is safe.
func encodeLiteral(v string) string {
	var b strings.Builder
	for _, r := range v {
		switch {
		case r == '\\' || r == '\'' || r == '"' || r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
