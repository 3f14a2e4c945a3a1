package pyre

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// translator rewrites a Python pattern into one that Go's regexp and regexp2 (.NET syntax)
// both read with Python's meaning: named groups become plain groups (regexp2 numbers named
// groups after the others; Python numbers them in order), escapes that differ become the
// character or class Python means, and verbose mode and comments are removed. It reports
// the features only a backtracking engine has.
type translator struct {
	src   []rune
	i     int
	out   []byte
	flags Flags

	groups int            // capturing groups opened so far
	open   map[int]bool   // capturing groups not closed yet
	names  map[string]int // named groups
	stack  []frame

	backtrack bool // lookaround, backreferences, conditionals, atomic groups
	dollar    bool // a $ outside MULTILINE: Python's also matches before a final newline
	lastAtom  int  // where in out the atom a quantifier applies to starts
	items     int  // atoms emitted, to tell where global flags may stand
}

type frame struct {
	saved   Flags
	capture int // the group's number, 0 when it captures nothing
	start   int // where in out the group opened
}

// Error is a pattern Python's re module refuses, or one that neither engine compiles.
type Error struct {
	Pattern string
	Msg     string
	Pos     int // in runes; -1 when unknown
}

func (e *Error) Error() string {
	if e.Pos < 0 {
		return fmt.Sprintf("invalid regular expression %q: %s", e.Pattern, e.Msg)
	}
	return fmt.Sprintf("invalid regular expression %q: %s at position %d", e.Pattern, e.Msg, e.Pos)
}

func (t *translator) errf(pos int, format string, args ...any) error {
	return &Error{Pattern: string(t.src), Msg: fmt.Sprintf(format, args...), Pos: pos}
}

func (t *translator) more() bool { return t.i < len(t.src) }

func (t *translator) peek(k int) rune {
	if t.i+k < len(t.src) {
		return t.src[t.i+k]
	}
	return -1
}

func (t *translator) emit(s string) { t.out = append(t.out, s...) }

// atom marks the start of an atom that a following quantifier repeats.
func (t *translator) atom() {
	t.lastAtom = len(t.out)
	t.items++
}

func translate(pattern string, f Flags) (*translator, error) {
	t := &translator{src: []rune(pattern), flags: f, open: map[int]bool{}, names: map[string]int{}}
	for t.more() {
		c := t.src[t.i]
		if t.flags&verbose != 0 {
			if unicode.IsSpace(c) {
				t.i++
				continue
			}
			if c == '#' {
				for t.more() && t.src[t.i] != '\n' {
					t.i++
				}
				continue
			}
		}
		var err error
		switch c {
		case '\\':
			t.atom()
			err = t.escape()
		case '[':
			t.atom()
			err = t.class()
		case '(':
			err = t.group()
		case ')':
			err = t.closeGroup()
		case '*', '+', '?', '{':
			err = t.quantifier()
		case '$':
			if t.flags&Multiline == 0 {
				t.dollar = true
			}
			t.items++
			t.emit("$")
			t.i++
		case '^', '|':
			t.items++
			t.emit(string(c))
			t.i++
		case '.':
			t.atom()
			t.emit(".")
			t.i++
		default:
			t.atom()
			t.literal(c)
			t.i++
		}
		if err != nil {
			return nil, err
		}
	}
	if len(t.stack) > 0 {
		return nil, t.errf(t.stack[len(t.stack)-1].start, "missing ), unterminated subpattern")
	}
	return t, nil
}

// literal writes c so that both engines read it as itself.
func (t *translator) literal(c rune) {
	switch {
	case c > 0x20 && c < 0x7f && !isAlnum(c) && c != '_':
		t.emit(`\` + string(c))
	case c < 0x20 || c == 0x7f:
		t.emit(fmt.Sprintf(`\x%02x`, c))
	default:
		t.emit(string(c))
	}
}

// category is what \d, \w, \s and their negations mean in Python: Unicode classes unless
// the ASCII flag is set. inClass gives the form that goes inside [ ].
func (t *translator) category(c rune, inClass bool) string {
	ascii := t.flags&ASCII != 0
	var set string
	switch c {
	case 'd', 'D':
		set = `\p{Nd}`
		if ascii {
			set = `0-9`
		}
	case 'w', 'W':
		set = `\p{L}\p{N}_`
		if ascii {
			set = `A-Za-z0-9_`
		}
	case 's', 'S':
		set = `\t\n\v\f\r\x1c-\x1f\x85\p{Z}`
		if ascii {
			set = `\t\n\v\f\r `
		}
	}
	negated := unicode.IsUpper(c)
	if inClass {
		if !negated {
			return set
		}
		// A negated class cannot be merged into a set; \P{Nd} is exact, the others are
		// the engines' own (ASCII in Go) forms.
		if c == 'D' && !ascii {
			return `\P{Nd}`
		}
		return `\` + string(c)
	}
	if negated {
		return "[^" + set + "]"
	}
	return "[" + set + "]"
}

// escape handles a backslash outside a class.
func (t *translator) escape() error {
	start := t.i
	t.i++
	if !t.more() {
		return t.errf(start, "bad escape (end of pattern)")
	}
	c := t.src[t.i]
	t.i++
	switch c {
	case 'A':
		t.emit(`\A`)
	case 'Z':
		t.emit(`\z`)
	case 'b', 'B':
		t.emit(`\` + string(c))
	case 'd', 'D', 'w', 'W', 's', 'S':
		t.emit(t.category(c, false))
	default:
		r, ref, err := t.escapedChar(start, c, false)
		if err != nil {
			return err
		}
		if ref > 0 {
			t.backref(start, ref)
			return nil
		}
		t.literal(r)
	}
	return nil
}

func (t *translator) backref(pos, n int) {
	t.backtrack = true
	t.emit(`(?:\` + strconv.Itoa(n) + `)`)
}

// escapedChar reads the character an escape stands for (c is the letter after the
// backslash, already read), or, outside a class, a group reference.
func (t *translator) escapedChar(start int, c rune, inClass bool) (rune, int, error) {
	switch c {
	case 'a':
		return 7, 0, nil
	case 'f':
		return '\f', 0, nil
	case 'n':
		return '\n', 0, nil
	case 'r':
		return '\r', 0, nil
	case 't':
		return '\t', 0, nil
	case 'v':
		return '\v', 0, nil
	case 'b':
		return '\b', 0, nil // only reached in a class
	case 'x', 'u', 'U':
		n := map[rune]int{'x': 2, 'u': 4, 'U': 8}[c]
		digits := t.take(n, isHex)
		if len(digits) != n {
			return 0, 0, t.errf(start, "incomplete escape \\%c%s", c, digits)
		}
		v, _ := strconv.ParseUint(digits, 16, 32)
		if v > unicode.MaxRune {
			return 0, 0, t.errf(start, "bad escape \\%c%s", c, digits)
		}
		return rune(v), 0, nil
	case 'N':
		if t.peek(0) != '{' {
			return 0, 0, t.errf(t.i, "missing {")
		}
		end := indexRune(t.src[t.i:], '}')
		if end < 0 {
			return 0, 0, t.errf(t.i, "missing }, unterminated name")
		}
		name := string(t.src[t.i+1 : t.i+end])
		t.i += end + 1
		r, ok := UnicodeName(name)
		if !ok {
			return 0, 0, t.errf(start, "undefined character name %q", name)
		}
		return r, 0, nil
	}
	if c >= '0' && c <= '9' {
		if c == '0' || inClass && c <= '7' {
			digits := string(c) + t.take(2, isOct)
			v, _ := strconv.ParseUint(digits, 8, 32)
			if v > 0o377 {
				return 0, 0, t.errf(start, "octal escape value \\%s outside of range 0-0o377", digits)
			}
			return rune(v), 0, nil
		}
		if inClass {
			return 0, 0, t.errf(start, "bad escape \\%c", c)
		}
		digits := string(c)
		if isDigit(t.peek(0)) {
			digits += string(t.peek(0))
			t.i++
			if isOct(c) && isOct(rune(digits[1])) && isOct(t.peek(0)) {
				digits += string(t.peek(0))
				t.i++
				v, _ := strconv.ParseUint(digits, 8, 32)
				if v > 0o377 {
					return 0, 0, t.errf(start, "octal escape value \\%s outside of range 0-0o377", digits)
				}
				return rune(v), 0, nil
			}
		}
		n, _ := strconv.Atoi(digits)
		if n > t.groups {
			return 0, 0, t.errf(start+1, "invalid group reference %d", n)
		}
		if t.open[n] {
			return 0, 0, t.errf(start, "cannot refer to an open group")
		}
		return 0, n, nil
	}
	if c < 0x80 && (unicode.IsLetter(c)) {
		return 0, 0, t.errf(start, "bad escape \\%c", c)
	}
	return c, 0, nil
}

func (t *translator) take(n int, ok func(rune) bool) string {
	var b strings.Builder
	for k := 0; k < n && t.more() && ok(t.src[t.i]); k++ {
		b.WriteRune(t.src[t.i])
		t.i++
	}
	return b.String()
}

// class translates a [...] set.
func (t *translator) class() error {
	start := t.i
	t.i++
	t.emit("[")
	if t.peek(0) == '^' {
		t.emit("^")
		t.i++
	}
	first := true
	for {
		if !t.more() {
			return t.errf(start, "unterminated character set")
		}
		c := t.src[t.i]
		if c == ']' && !first {
			t.i++
			t.emit("]")
			return nil
		}
		first = false
		lo, set, err := t.classItem()
		if err != nil {
			return err
		}
		if set != "" {
			t.emit(set)
			if t.peek(0) == '-' && t.peek(1) != ']' && t.peek(1) != -1 {
				return t.errf(t.i, "bad character range")
			}
			continue
		}
		if t.peek(0) == '-' && t.peek(1) != ']' && t.peek(1) != -1 {
			dash := t.i
			t.i++
			hi, hset, err := t.classItem()
			if err != nil {
				return err
			}
			if hset != "" || hi < lo {
				return t.errf(dash-1, "bad character range %s-%s", string(lo), string(t.src[dash+1:t.i]))
			}
			t.literal(lo)
			t.emit("-")
			t.literal(hi)
			continue
		}
		t.literal(lo)
	}
}

// classItem reads one member of a set: a character, or a category such as \d (set).
func (t *translator) classItem() (rune, string, error) {
	c := t.src[t.i]
	if c != '\\' {
		t.i++
		return c, "", nil
	}
	start := t.i
	t.i++
	if !t.more() {
		return 0, "", t.errf(start, "bad escape (end of pattern)")
	}
	c = t.src[t.i]
	t.i++
	switch c {
	case 'd', 'D', 'w', 'W', 's', 'S':
		return 0, t.category(c, true), nil
	case 'A', 'B', 'Z':
		return 0, "", t.errf(start, "bad escape \\%c", c)
	}
	r, _, err := t.escapedChar(start, c, true)
	return r, "", err
}

// group handles what follows an opening parenthesis.
func (t *translator) group() error {
	start := t.i
	t.i++
	push := func(open string, capture int) {
		t.stack = append(t.stack, frame{saved: t.flags, capture: capture, start: len(t.out)})
		t.emit(open)
	}
	if t.peek(0) != '?' {
		t.groups++
		t.open[t.groups] = true
		push("(", t.groups)
		return nil
	}
	t.i++
	switch c := t.peek(0); c {
	case ':':
		t.i++
		push("(?:", 0)
	case '=', '!':
		t.i++
		t.backtrack = true
		push("(?"+string(c), 0)
	case '>':
		t.i++
		t.backtrack = true
		push("(?>", 0)
	case '#':
		end := indexRune(t.src[t.i:], ')')
		if end < 0 {
			return t.errf(start, "missing ), unterminated comment")
		}
		t.i += end + 1
	case '<':
		if d := t.peek(1); d == '=' || d == '!' {
			t.i += 2
			t.backtrack = true
			push("(?<"+string(d), 0)
			return nil
		}
		return t.errf(t.i, "unknown extension ?<%s", string(t.peek(1)))
	case 'P':
		switch t.peek(1) {
		case '<':
			t.i += 2
			name, err := t.name('>')
			if err != nil {
				return err
			}
			if _, dup := t.names[name]; dup {
				return t.errf(start, "redefinition of group name %q as group %d; was group %d", name, t.groups+1, t.names[name])
			}
			t.groups++
			t.names[name] = t.groups
			t.open[t.groups] = true
			push("(", t.groups)
		case '=':
			t.i += 2
			name, err := t.name(')')
			if err != nil {
				return err
			}
			n, ok := t.names[name]
			if !ok {
				return t.errf(start, "unknown group name %q", name)
			}
			if t.open[n] {
				return t.errf(start, "cannot refer to an open group")
			}
			t.atom()
			t.out = t.out[:t.lastAtom]
			t.backref(start, n)
		default:
			return t.errf(t.i, "unknown extension ?P%s", string(t.peek(1)))
		}
	case '(':
		t.i++
		end := indexRune(t.src[t.i:], ')')
		if end < 0 {
			return t.errf(t.i, "missing ), unterminated name")
		}
		cond := string(t.src[t.i : t.i+end])
		t.i += end + 1
		n, err := strconv.Atoi(cond)
		if err != nil {
			var ok bool
			if n, ok = t.names[cond]; !ok {
				return t.errf(start, "unknown group name %q", cond)
			}
		} else if n < 1 || n > t.groups {
			return t.errf(start, "invalid group reference %d", n)
		}
		t.backtrack = true
		push("(?("+strconv.Itoa(n)+")", 0)
	default:
		return t.flagGroup(start)
	}
	return nil
}

// name reads a group name up to end.
func (t *translator) name(end rune) (string, error) {
	k := indexRune(t.src[t.i:], end)
	if k < 0 {
		return "", t.errf(t.i, "missing %c, unterminated name", end)
	}
	name := string(t.src[t.i : t.i+k])
	t.i += k + 1
	if !isIdentifier(name) {
		return "", t.errf(t.i-k-1, "bad character in group name %q", name)
	}
	return name, nil
}

// flagGroup handles (?aimsx) at the start and (?aimsx-imsx:...) anywhere.
func (t *translator) flagGroup(start int) error {
	var add, del Flags
	neg := false
	for {
		if !t.more() {
			return t.errf(start, "missing -, : or )")
		}
		c := t.src[t.i]
		t.i++
		switch c {
		case ')':
			if neg || t.items > 0 || len(t.stack) > 0 {
				if neg {
					return t.errf(t.i-1, "missing :")
				}
				return t.errf(start, "global flags not at the start of the expression")
			}
			t.flags |= add
			return nil
		case ':':
			t.stack = append(t.stack, frame{saved: t.flags, start: len(t.out)})
			t.flags = t.flags&^del | add
			on, off := add&engineFlags, del&engineFlags
			t.emit("(?" + on.letters())
			if off != 0 {
				t.emit("-" + off.letters())
			}
			t.emit(":")
			return nil
		case '-':
			if neg {
				return t.errf(t.i-1, "unknown flag")
			}
			neg = true
			continue
		}
		f, ok := flagLetters[c]
		if !ok || c == 'L' {
			if c == 'L' {
				return t.errf(t.i-1, "bad inline flags: cannot use 'L' flag with a str pattern")
			}
			return t.errf(t.i-1, "unknown extension ?%c", c)
		}
		if neg {
			if f == ASCII {
				return t.errf(t.i-1, "bad inline flags: cannot turn off flags 'a', 'u' and 'L'")
			}
			del |= f
		} else {
			add |= f
		}
	}
}

func (t *translator) closeGroup() error {
	if len(t.stack) == 0 {
		return t.errf(t.i, "unbalanced parenthesis")
	}
	fr := t.stack[len(t.stack)-1]
	t.stack = t.stack[:len(t.stack)-1]
	t.flags = fr.saved
	if fr.capture > 0 {
		delete(t.open, fr.capture)
	}
	t.emit(")")
	t.i++
	t.lastAtom = fr.start
	t.items++
	return nil
}

// quantifier copies *, +, ?, {m,n} with a lazy ? after them; a possessive + becomes an
// atomic group around the atom. A { that starts no quantifier is a literal, as in Python.
func (t *translator) quantifier() error {
	c := t.src[t.i]
	q := string(c)
	t.i++
	if c == '{' {
		k := t.i
		lo := t.take(10, isDigit)
		hi := lo
		comma := false
		if t.peek(0) == ',' {
			comma = true
			t.i++
			hi = t.take(10, isDigit)
		}
		if t.peek(0) != '}' || (lo == "" && !comma) {
			t.i = k
			t.atom()
			t.emit(`\{`)
			return nil
		}
		t.i++
		if lo == "" {
			lo = "0"
		}
		if lo != "" && hi != "" {
			l, _ := strconv.Atoi(lo)
			h, _ := strconv.Atoi(hi)
			if h < l {
				return t.errf(k, "min repeat greater than max repeat")
			}
		}
		q = "{" + lo
		if comma {
			q += "," + hi
		}
		q += "}"
	}
	switch t.peek(0) {
	case '?':
		q += "?"
		t.i++
	case '+':
		t.i++
		t.backtrack = true
		body := string(t.out[t.lastAtom:])
		t.out = append(t.out[:t.lastAtom], "(?>"+body+q+")"...)
		return nil
	}
	t.emit(q)
	return nil
}

func indexRune(rs []rune, r rune) int {
	for i, c := range rs {
		if c == r {
			return i
		}
	}
	return -1
}

func isHex(r rune) bool   { return r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F' }
func isOct(r rune) bool   { return r >= '0' && r <= '7' }
func isDigit(r rune) bool { return r >= '0' && r <= '9' }
func isAlnum(r rune) bool { return isDigit(r) || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' }

func isIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || unicode.IsLetter(r) || i > 0 && (unicode.IsDigit(r) || unicode.Is(unicode.Mn, r))) {
			return false
		}
	}
	return true
}
