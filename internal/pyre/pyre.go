// Package pyre compiles regular expressions written for Python's re module, as Ansible's
// modules, filters, tests and lookups take them, and matches them with Python's meaning.
//
// A pattern is first translated (translate.go): Python's escapes, classes, named groups,
// inline flags, verbose mode and comments become what both engines below read the same
// way. Go's regexp (RE2, linear time) runs it when it can; github.com/dlclark/regexp2, a
// backtracking engine with .NET's syntax, runs what RE2 lacks: lookahead and lookbehind,
// backreferences, conditionals, atomic groups and possessive quantifiers. regexp2 also
// runs two cases where RE2 would answer differently from Python: a $ (without MULTILINE)
// matched against text that ends in a newline, where Python's $ also matches before that
// newline, and iterating over a pattern that can match the empty string, where Python
// keeps an empty match just after a non-empty one and Go drops it.
package pyre

import (
	"regexp"
	"regexp/syntax"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
)

// Flags are Python's re flags that Ansible passes.
type Flags uint8

const (
	IgnoreCase Flags = 1 << iota // re.I
	Multiline                    // re.M
	DotAll                       // re.S
	verbose                      // re.X, inline only
	ASCII                        // re.A
)

// engineFlags are those both engines take inline; the others the translation applies.
const engineFlags = IgnoreCase | Multiline | DotAll

var flagLetters = map[rune]Flags{'i': IgnoreCase, 'm': Multiline, 's': DotAll, 'x': verbose, 'a': ASCII, 'u': 0, 'L': 0}

func (f Flags) letters() string {
	var b strings.Builder
	for _, l := range []struct {
		f Flags
		c byte
	}{{IgnoreCase, 'i'}, {Multiline, 'm'}, {DotAll, 's'}} {
		if f&l.f != 0 {
			b.WriteByte(l.c)
		}
	}
	return b.String()
}

// MatchTimeout bounds one backtracking match, which Python does not bound: a pattern that
// backtracks for this long fails the task instead of hanging it.
const MatchTimeout = time.Minute

// Regexp is a compiled Python pattern.
type Regexp struct {
	pattern string
	prefix  string // global flags, inline
	body    string // the translated pattern
	groups  int
	names   map[string]int

	flags      Flags // global flags: given, or inline at the start
	backtrack  bool  // only regexp2 can run it
	dollar     bool
	matchEmpty bool // the pattern can match the empty string

	mu       sync.Mutex
	variants map[variant]engine
}

type variant uint8

const (
	search variant = iota
	anchored
	full
	// the same three on regexp2, for the cases Go would answer differently
	btSearch
	btAnchored
	btFull
)

// engine is one compiled form of the pattern.
type engine interface {
	// first is the leftmost match's group spans in bytes (-1 where a group did not
	// take part), or nil.
	first(s string) ([]int, error)
	// all is every match, in Python's order, for findall, finditer and sub.
	all(s string) ([][]int, error)
}

// Compile compiles a Python pattern with flags.
func Compile(pattern string, f Flags) (*Regexp, error) {
	t, err := translate(pattern, f)
	if err != nil {
		return nil, err
	}
	r := &Regexp{
		pattern: pattern, prefix: "", body: string(t.out), groups: t.groups, names: t.names, flags: t.flags,
		backtrack: t.backtrack, dollar: t.dollar, variants: map[variant]engine{},
	}
	if l := (t.flags & engineFlags).letters(); l != "" {
		r.prefix = "(?" + l + ")"
	}
	if !r.backtrack {
		re, err := regexp.Compile(r.prefix + r.body)
		if err == nil {
			r.variants[search] = goEngine{re}
			r.matchEmpty = canMatchEmpty(r.prefix + r.body)
			return r, nil
		}
		r.backtrack = true // a repeat count over 1000, say: regexp2 takes it
	}
	if _, err := r.engine(search, ""); err != nil {
		return nil, err
	}
	return r, nil
}

// String is the pattern as written.
func (r *Regexp) String() string { return r.pattern }

// Flags are the pattern's global flags, those given to Compile and those set inline at its
// start (Python's Pattern.flags, as blockinfile reads re.MULTILINE from it).
func (r *Regexp) Flags() Flags { return r.flags }

// NumGroups is the number of capturing groups.
func (r *Regexp) NumGroups() int { return r.groups }

// GroupIndex is the number of the group called name.
func (r *Regexp) GroupIndex(name string) (int, bool) {
	n, ok := r.names[name]
	return n, ok
}

// engine returns the compiled form of variant v for matching s.
func (r *Regexp) engine(v variant, s string) (engine, error) {
	if v < btSearch && (r.backtrack || r.dollar && strings.HasSuffix(s, "\n")) {
		v += btSearch
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.variants[v]; ok {
		return e, nil
	}
	expr := r.body
	switch v % btSearch {
	case anchored:
		expr = `\A(?:` + expr + `)`
	case full:
		expr = `\A(?:` + expr + `)\z`
	}
	expr = r.prefix + expr
	var e engine
	if v >= btSearch {
		re, err := regexp2.Compile(expr, regexp2.None)
		if err != nil {
			return nil, &Error{Pattern: r.pattern, Msg: strings.TrimPrefix(err.Error(), "error parsing regexp: "), Pos: -1}
		}
		re.MatchTimeout = MatchTimeout
		e = btEngine{re}
	} else {
		re, err := regexp.Compile(expr)
		if err != nil {
			return nil, &Error{Pattern: r.pattern, Msg: strings.TrimPrefix(err.Error(), "error parsing regexp: "), Pos: -1}
		}
		e = goEngine{re}
	}
	r.variants[v] = e
	return e, nil
}

func (r *Regexp) find(v variant, s string) (*Match, error) {
	e, err := r.engine(v, s)
	if err != nil {
		return nil, err
	}
	spans, err := e.first(s)
	if spans == nil || err != nil {
		return nil, err
	}
	return &Match{s: s, spans: spans, re: r}, nil
}

// Search is re.search: the first match anywhere in s, or nil.
func (r *Regexp) Search(s string) (*Match, error) { return r.find(search, s) }

// Match is re.match: a match that starts at the start of s, or nil.
func (r *Regexp) Match(s string) (*Match, error) { return r.find(anchored, s) }

// FullMatch is re.fullmatch: a match of the whole of s, or nil.
func (r *Regexp) FullMatch(s string) (*Match, error) { return r.find(full, s) }

// MatchString reports whether re.search finds a match; a match that fails (a
// backtracking timeout) counts as none.
func (r *Regexp) MatchString(s string) bool {
	m, err := r.Search(s)
	return err == nil && m != nil
}

// FindAll is re.finditer: every non-overlapping match, empty ones included as Python
// includes them.
func (r *Regexp) FindAll(s string) ([]*Match, error) {
	v := search
	if r.matchEmpty {
		v = btSearch
	}
	e, err := r.engine(v, s)
	if err != nil {
		return nil, err
	}
	all, err := e.all(s)
	if err != nil {
		return nil, err
	}
	out := make([]*Match, len(all))
	for i, spans := range all {
		out[i] = &Match{s: s, spans: spans, re: r}
	}
	return out, nil
}

// Match is one match: the text of each group.
type Match struct {
	s     string
	spans []int
	re    *Regexp
}

// Group is group i's text; ok is false for a group that took no part in the match.
func (m *Match) Group(i int) (string, bool) {
	if i < 0 || 2*i+1 >= len(m.spans) || m.spans[2*i] < 0 {
		return "", false
	}
	return m.s[m.spans[2*i]:m.spans[2*i+1]], true
}

// Span is where group i starts and ends in bytes; -1, -1 for a group that took no part.
func (m *Match) Span(i int) (int, int) {
	if i < 0 || 2*i+1 >= len(m.spans) {
		return -1, -1
	}
	return m.spans[2*i], m.spans[2*i+1]
}

// Start and End are the byte offsets of the whole match.
func (m *Match) Start() int { return m.spans[0] }
func (m *Match) End() int   { return m.spans[1] }

type goEngine struct{ re *regexp.Regexp }

func (g goEngine) first(s string) ([]int, error) { return g.re.FindStringSubmatchIndex(s), nil }

func (g goEngine) all(s string) ([][]int, error) { return g.re.FindAllStringSubmatchIndex(s, -1), nil }

type btEngine struct{ re *regexp2.Regexp }

func (b btEngine) first(s string) ([]int, error) {
	m, err := b.re.FindStringMatch(s)
	if m == nil || err != nil {
		return nil, err
	}
	return spansOf(m, byteOffsets(s)), nil
}

func (b btEngine) all(s string) ([][]int, error) {
	offs := byteOffsets(s)
	var out [][]int
	m, err := b.re.FindStringMatch(s)
	for m != nil && err == nil {
		out = append(out, spansOf(m, offs))
		m, err = b.re.FindNextMatch(m)
	}
	return out, err
}

// byteOffsets maps regexp2's rune positions to byte offsets in s (nil when s is ASCII).
func byteOffsets(s string) []int {
	if utf8.RuneCountInString(s) == len(s) {
		return nil
	}
	offs := make([]int, 0, len(s)+1)
	for i := range s {
		offs = append(offs, i)
	}
	return append(offs, len(s))
}

func spansOf(m *regexp2.Match, offs []int) []int {
	groups := m.Groups()
	spans := make([]int, 2*len(groups))
	for i, g := range groups {
		if len(g.Captures) == 0 {
			spans[2*i], spans[2*i+1] = -1, -1
			continue
		}
		a, b := g.Index, g.Index+g.Length
		if offs != nil {
			a, b = offs[a], offs[b]
		}
		spans[2*i], spans[2*i+1] = a, b
	}
	return spans
}

// canMatchEmpty reports whether an RE2 pattern matches some empty string, looking at its
// syntax tree (empty-width assertions count as empty).
func canMatchEmpty(expr string) bool {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return true
	}
	return minLen(re.Simplify()) == 0
}

func minLen(re *syntax.Regexp) int {
	switch re.Op {
	case syntax.OpLiteral:
		return len(re.Rune)
	case syntax.OpCharClass, syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return 1
	case syntax.OpCapture, syntax.OpPlus:
		return minLen(re.Sub[0])
	case syntax.OpRepeat:
		return re.Min * minLen(re.Sub[0])
	case syntax.OpConcat:
		n := 0
		for _, s := range re.Sub {
			n += minLen(s)
		}
		return n
	case syntax.OpAlternate:
		n := -1
		for _, s := range re.Sub {
			if l := minLen(s); n < 0 || l < n {
				n = l
			}
		}
		return max(n, 0)
	case syntax.OpNoMatch:
		return 1
	}
	return 0 // empty match, star, quest, assertions
}
