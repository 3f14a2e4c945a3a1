package inventory

import (
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"unicode"
)

// pyLiteral reads an INI value as ansible-core does with Python's
// ast.literal_eval: numbers, True/False/None, quoted strings, lists, tuples
// (with or without parentheses) and dicts become those values; anything
// else stays the string it was. So `8080` is an int, `True` a bool, `true`
// and `0755` strings (Python rejects leading zeros), `'a b'` the string a b.
func pyLiteral(s string) any {
	p := &pyParser{src: strings.TrimSpace(s)}
	v, err := p.top()
	if err != nil {
		return s
	}
	return v
}

var errNotLiteral = errors.New("not a Python literal")

type pyParser struct {
	src string
	pos int
}

func (p *pyParser) top() (any, error) {
	if p.src == "" {
		return nil, errNotLiteral
	}
	v, err := p.sequence(0, true)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.pos != len(p.src) {
		return nil, errNotLiteral
	}
	return v, nil
}

func (p *pyParser) space() {
	for p.pos < len(p.src) && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t') {
		p.pos++
	}
}

func (p *pyParser) peek() byte {
	p.space()
	if p.pos < len(p.src) {
		return p.src[p.pos]
	}
	return 0
}

// sequence reads "a" or "a, b, ..." (a tuple, kept as a list) up to the
// closing byte end; bare allows a top-level tuple without parentheses.
func (p *pyParser) sequence(end byte, bare bool) (any, error) {
	first, err := p.value()
	if err != nil {
		return nil, err
	}
	if p.peek() != ',' {
		return first, nil
	}
	items := []any{first}
	for p.peek() == ',' {
		p.pos++
		if c := p.peek(); c == end || (bare && c == 0) {
			break
		}
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		items = append(items, v)
	}
	return items, nil
}

func (p *pyParser) value() (any, error) {
	switch c := p.peek(); {
	case c == '\'' || c == '"':
		return p.str()
	case c == '[':
		return p.list('[', ']')
	case c == '(':
		return p.list('(', ')')
	case c == '{':
		return p.dict()
	case c == '-' || c == '+' || c == '.' || (c >= '0' && c <= '9'):
		return p.number()
	case unicode.IsLetter(rune(c)):
		return p.name()
	}
	return nil, errNotLiteral
}

func (p *pyParser) name() (any, error) {
	start := p.pos
	for p.pos < len(p.src) && (unicode.IsLetter(rune(p.src[p.pos])) || p.src[p.pos] == '_' || unicode.IsDigit(rune(p.src[p.pos]))) {
		p.pos++
	}
	switch p.src[start:p.pos] {
	case "True":
		return true, nil
	case "False":
		return false, nil
	case "None":
		return nil, nil
	}
	return nil, errNotLiteral
}

func (p *pyParser) number() (any, error) {
	start := p.pos
	neg := false
	if c := p.src[p.pos]; c == '-' || c == '+' {
		neg = c == '-'
		p.pos++
		p.space()
	}
	numStart := p.pos
	for p.pos < len(p.src) && strings.IndexByte("0123456789abcdefABCDEFxXoO_.+-jJ", p.src[p.pos]) >= 0 {
		// a sign is part of the number only right after an exponent
		if c := p.src[p.pos]; (c == '+' || c == '-') && !(p.pos > numStart && (p.src[p.pos-1] == 'e' || p.src[p.pos-1] == 'E') && !isHexOrBin(p.src[numStart:p.pos])) {
			break
		}
		p.pos++
	}
	lit := p.src[numStart:p.pos]
	if lit == "" {
		p.pos = start
		return nil, errNotLiteral
	}
	if v, ok := pyInt(lit); ok {
		if neg {
			return -v, nil
		}
		return v, nil
	}
	if !strings.ContainsAny(lit, ".eE") {
		return nil, errNotLiteral // an integer Python refuses, such as 0755
	}
	if strings.ContainsAny(lit, "xXoOjJ") || strings.HasPrefix(lit, "_") || strings.HasSuffix(lit, "_") || strings.Contains(lit, "__") {
		return nil, errNotLiteral
	}
	f, err := strconv.ParseFloat(strings.ReplaceAll(lit, "_", ""), 64)
	if err != nil {
		return nil, errNotLiteral
	}
	if neg {
		return -f, nil
	}
	return f, nil
}

func isHexOrBin(s string) bool {
	return len(s) > 1 && s[0] == '0' && strings.ContainsAny(s[1:2], "xXbB")
}

// pyInt reads Python integer literals: 0x/0o/0b prefixes, underscores
// between digits, and no leading zeros on decimals other than 0 itself.
func pyInt(lit string) (int, bool) {
	if strings.HasPrefix(lit, "_") || strings.HasSuffix(lit, "_") || strings.Contains(lit, "__") {
		return 0, false
	}
	clean := strings.ReplaceAll(lit, "_", "")
	base := 10
	if len(clean) > 2 && clean[0] == '0' {
		switch clean[1] {
		case 'x', 'X':
			base = 16
		case 'o', 'O':
			base = 8
		case 'b', 'B':
			base = 2
		}
		if base != 10 {
			clean = clean[2:]
			if strings.HasPrefix(lit[2:], "_") {
				clean = strings.TrimPrefix(clean, "_")
			}
		}
	}
	if base == 10 && len(clean) > 1 && clean[0] == '0' && strings.Trim(clean, "0") != "" {
		return 0, false
	}
	n, ok := new(big.Int).SetString(clean, base)
	if !ok || !n.IsInt64() {
		return 0, false
	}
	return int(n.Int64()), true
}

func (p *pyParser) list(open, end byte) (any, error) {
	p.pos++ // open
	if p.peek() == end {
		p.pos++
		return []any{}, nil
	}
	var items []any
	for {
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		items = append(items, v)
		switch p.peek() {
		case ',':
			p.pos++
			if p.peek() == end {
				p.pos++
				return items, nil
			}
		case end:
			p.pos++
			if open == '(' && len(items) == 1 {
				return items[0], nil // (x) is x, not a tuple
			}
			return items, nil
		default:
			return nil, errNotLiteral
		}
	}
}

func (p *pyParser) dict() (any, error) {
	p.pos++
	out := map[string]any{}
	if p.peek() == '}' {
		p.pos++
		return out, nil
	}
	for {
		k, err := p.value()
		if err != nil {
			return nil, err
		}
		if p.peek() != ':' {
			return nil, errNotLiteral // a set, or junk: keep the string
		}
		p.pos++
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		out[pyKey(k)] = v
		switch p.peek() {
		case ',':
			p.pos++
			if p.peek() == '}' {
				p.pos++
				return out, nil
			}
		case '}':
			p.pos++
			return out, nil
		default:
			return nil, errNotLiteral
		}
	}
}

func pyKey(k any) string {
	switch v := k.(type) {
	case string:
		return v
	case bool:
		if v {
			return "True"
		}
		return "False"
	case nil:
		return "None"
	}
	return fmt.Sprint(k)
}

// str reads one or more adjacent quoted strings ('a' "b" is "ab").
func (p *pyParser) str() (any, error) {
	var b strings.Builder
	for {
		c := p.peek()
		if c != '\'' && c != '"' {
			return b.String(), nil
		}
		s, err := p.quoted()
		if err != nil {
			return nil, err
		}
		b.WriteString(s)
	}
}

func (p *pyParser) quoted() (string, error) {
	q := p.src[p.pos]
	triple := strings.HasPrefix(p.src[p.pos:], strings.Repeat(string(q), 3))
	if triple {
		p.pos += 3
	} else {
		p.pos++
	}
	var b strings.Builder
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case triple && strings.HasPrefix(p.src[p.pos:], strings.Repeat(string(q), 3)):
			p.pos += 3
			return b.String(), nil
		case !triple && c == q:
			p.pos++
			return b.String(), nil
		case c == '\\' && p.pos+1 < len(p.src):
			p.pos++
			b.WriteString(pyEscape(p.src[p.pos]))
			p.pos++
		default:
			b.WriteByte(c)
			p.pos++
		}
	}
	return "", errNotLiteral
}

func pyEscape(c byte) string {
	switch c {
	case 'n':
		return "\n"
	case 't':
		return "\t"
	case 'r':
		return "\r"
	case '0':
		return "\x00"
	case '\\', '\'', '"':
		return string(c)
	}
	return "\\" + string(c) // unknown escapes stay as written, as in Python
}
