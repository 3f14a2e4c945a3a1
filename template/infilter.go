package template

import "strings"

// gonja parses the right operand of `in` as a bare variable or literal, so
// `item.key not in skip | default([])` became `(item.key not in skip) |
// default([])`, and `x in l | list and y` did not parse. Jinja2 binds
// filters tighter than `in`. inFilters puts the operand and its filters in
// parentheses (`in (skip | default([]))`) inside every {{ }} and {% %}
// block, where gonja then reads them as Jinja2 does (dev-sec's
// os_hardening: `when: item.key not in sysctl_unsupported_entries |
// default()`).
func inFilters(src string) string {
	if !strings.Contains(src, "in") || !strings.Contains(src, "|") {
		return src
	}
	return eachBlock(src, rewriteIn)
}

// eachBlock rewrites the expression of every {{ }} and {% %} block of src
// with fn, leaving the text around them.
func eachBlock(src string, fn func(string) string) string {
	var b strings.Builder
	for i := 0; i < len(src); {
		j := nextBlock(src, i)
		if j < 0 {
			b.WriteString(src[i:])
			break
		}
		closer := "}}"
		if src[j+1] == '%' {
			closer = "%}"
		}
		end := -1
		outsideQuotes(src, j+2, func(k int) bool {
			if strings.HasPrefix(src[k:], closer) {
				end = k
				return false
			}
			return true
		})
		if end < 0 {
			b.WriteString(src[i:])
			break
		}
		b.WriteString(src[i : j+2])
		b.WriteString(fn(src[j+2 : end]))
		i = end
	}
	return b.String()
}

func nextBlock(s string, i int) int {
	a, c := strings.Index(s[i:], "{{"), strings.Index(s[i:], "{%")
	switch {
	case a < 0 && c < 0:
		return -1
	case a < 0 || (c >= 0 && c < a):
		return i + c
	}
	return i + a
}

// rewriteIn parenthesizes each filtered right operand of `in` in one
// block's expression.
func rewriteIn(e string) string {
	var b strings.Builder
	last := 0
	outsideQuotes(e, 0, func(k int) bool {
		if k < last || !isWord(e, k, "in") {
			return true
		}
		start := skipSpace(e, k+2)
		end := operandEnd(e, start)
		if end <= start {
			return true
		}
		filtered := end
		for q := skipSpace(e, filtered); q < len(e) && e[q] == '|'; q = skipSpace(e, filtered) {
			n := skipSpace(e, q+1)
			m := n
			for m < len(e) && (identChar(e[m]) || e[m] == '.') {
				m++
			}
			if m == n {
				break
			}
			if p := skipSpace(e, m); p < len(e) && e[p] == '(' {
				m = balanced(e, p)
			}
			filtered = m
		}
		if filtered == end {
			return true
		}
		b.WriteString(e[last:start])
		b.WriteString("(")
		b.WriteString(e[start:filtered])
		b.WriteString(")")
		last = filtered
		return true
	})
	b.WriteString(e[last:])
	return b.String()
}

// isWord reports the keyword w at e[k:], not part of a longer name or an
// attribute (x.in).
func isWord(e string, k int, w string) bool {
	if !strings.HasPrefix(e[k:], w) {
		return false
	}
	if k > 0 && (identChar(e[k-1]) || e[k-1] == '.') {
		return false
	}
	after := k + len(w)
	return after < len(e) && !identChar(e[after])
}

func identChar(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func skipSpace(e string, i int) int {
	for i < len(e) && (e[i] == ' ' || e[i] == '\t' || e[i] == '\n' || e[i] == '\r') {
		i++
	}
	return i
}

// operandEnd is the end of the primary expression at e[i:]: a literal, a
// bracketed group, or a name with its attributes, subscripts and calls.
func operandEnd(e string, i int) int {
	if i >= len(e) {
		return i
	}
	switch c := e[i]; {
	case c == '\'' || c == '"':
		i = stringEnd(e, i)
	case c == '(' || c == '[' || c == '{':
		i = balanced(e, i)
	case identChar(c):
		for i < len(e) && identChar(e[i]) {
			i++
		}
	default:
		return i
	}
	for i < len(e) {
		switch {
		case e[i] == '.' && i+1 < len(e) && identChar(e[i+1]):
			i++
			for i < len(e) && identChar(e[i]) {
				i++
			}
		case e[i] == '[' || e[i] == '(':
			i = balanced(e, i)
		default:
			return i
		}
	}
	return i
}

func stringEnd(e string, i int) int {
	q := e[i]
	for k := i + 1; k < len(e); k++ {
		switch e[k] {
		case '\\':
			k++
		case q:
			return k + 1
		}
	}
	return len(e)
}

// balanced is the index after the bracket closing the one at e[i].
func balanced(e string, i int) int {
	depth := 0
	end := len(e)
	outsideQuotes(e, i, func(k int) bool {
		switch e[k] {
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
			if depth == 0 {
				end = k + 1
				return false
			}
		}
		return true
	})
	return end
}
