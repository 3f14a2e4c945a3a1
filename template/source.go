package template

import (
	"fmt"
	"strings"
)

// jinjaSource rewrites what gonja reads differently from Jinja2, and only inside {{ }} and
// {% %} (text, comments and raw blocks are left alone):
//   - a newline outside a string literal is white space in Jinja2; gonja's lexer takes only
//     spaces and tabs, so `a or<newline>b` fails to parse. It becomes a space.
//   - a string literal is decoded as Jinja2 or Ansible decodes it (pystring.go): literals in
//     {{ }} by vars, those in {% %} always as Jinja2 does. A literal with a backslash is
//     written back in a form gonja reads as that value.
func jinjaSource(src string, vars literalMode) (string, error) {
	if !strings.ContainsAny(src, "\\\n") {
		return src, nil
	}
	var b strings.Builder
	b.Grow(len(src) + 8)
	for i := 0; i < len(src); {
		j := nextOpen(src, i)
		if j < 0 {
			b.WriteString(src[i:])
			break
		}
		b.WriteString(src[i:j])
		if end := verbatimEnd(src, j); end > j {
			b.WriteString(src[j:end])
			i = end
			continue
		}
		closer, mode := "}}", vars
		if src[j+1] == '%' {
			closer, mode = "%}", jinjaLiterals
		}
		b.WriteString(src[j : j+2])
		end, err := copyExpr(&b, src, j+2, closer, mode)
		if err != nil {
			return "", err
		}
		i = end
	}
	return b.String(), nil
}

// exprSource rewrites a bare expression (Eval's) as jinjaSource rewrites the inside of a tag.
func exprSource(expr string, mode literalMode) (string, error) {
	if !strings.ContainsAny(expr, "\\\n") {
		return expr, nil
	}
	var b strings.Builder
	_, err := copyExpr(&b, expr, 0, "", mode)
	return b.String(), err
}

// nextOpen finds the next "{{" or "{%" or "{#" at or after i.
func nextOpen(src string, i int) int {
	for {
		k := strings.IndexByte(src[i:], '{')
		if k < 0 || i+k+1 >= len(src) {
			return -1
		}
		if c := src[i+k+1]; c == '{' || c == '%' || c == '#' {
			return i + k
		}
		i += k + 1
	}
}

// verbatimEnd is the end of a comment or of a whole {% raw %}…{% endraw %} block starting at
// j, or j when neither starts there.
func verbatimEnd(src string, j int) int {
	if strings.HasPrefix(src[j:], "{#") {
		if k := strings.Index(src[j:], "#}"); k >= 0 {
			return j + k + 2
		}
		return len(src)
	}
	tag := strings.TrimLeft(src[j+2:], "- \t\n")
	if !strings.HasPrefix(src[j:], "{%") || !strings.HasPrefix(tag, "raw") {
		return j
	}
	if k := strings.Index(src[j:], "endraw"); k >= 0 {
		if m := strings.Index(src[j+k:], "%}"); m >= 0 {
			return j + k + m + 2
		}
	}
	return len(src)
}

// copyExpr copies the expression starting at i into b, up to and including closer (to the
// end when closer is ""), rewritten, and returns where it ends.
func copyExpr(b *strings.Builder, src string, i int, closer string, mode literalMode) (int, error) {
	for i < len(src) {
		c := src[i]
		switch {
		case c == '\'' || c == '"':
			end := literalEnd(src, i)
			if end < 0 { // unterminated: gonja reports it
				b.WriteString(src[i:])
				return len(src), nil
			}
			lit := src[i : end+1]
			if strings.IndexByte(lit, '\\') >= 0 {
				v, err := decodeLiteral(lit[1:len(lit)-1], mode)
				if err != nil {
					return 0, fmt.Errorf("string literal %s: %w", lit, err)
				}
				lit = string(c) + encodeLiteral(v) + string(c)
			}
			b.WriteString(lit)
			i = end + 1
			continue
		case closer != "" && strings.HasPrefix(src[i:], closer):
			b.WriteString(closer)
			return i + len(closer), nil
		case c == '\n':
			c = ' '
		}
		b.WriteByte(c)
		i++
	}
	return i, nil
}

// literalEnd is the index of the quote that closes the literal opening at i, as Jinja2's
// lexer finds it (a backslash escapes the character after it), or -1.
func literalEnd(src string, i int) int {
	q := src[i]
	for k := i + 1; k < len(src); k++ {
		switch src[k] {
		case '\\':
			k++
		case q:
			return k
		}
	}
	return -1
}
