package template

import "strings"

// jinjaSource rewrites the two things gonja reads differently from Jinja2, and only inside
// {{ }} and {% %} (text, comments and raw blocks are left alone):
//   - a newline outside a string literal is white space in Jinja2; gonja's lexer takes only
//     spaces and tabs, so `a or<newline>b` fails to parse. It becomes a space.
//   - a string literal is read as Python reads it, where an unknown escape keeps its backslash
//     ('\.' is backslash-dot); gonja unquotes literals as Go does and rejects it. The
//     backslash is doubled, which both read as one backslash.
func jinjaSource(src string) string {
	if !strings.ContainsAny(src, "\\\n") {
		return src
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
		i = copyTag(&b, src, j)
	}
	return b.String()
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

// copyTag copies the tag opening at j into b, rewritten, and returns where it ends.
func copyTag(b *strings.Builder, src string, j int) int {
	closer := "}}"
	if src[j+1] == '%' {
		closer = "%}"
	}
	b.WriteString(src[j : j+2])
	var quote byte
	i := j + 2
	for i < len(src) {
		c := src[i]
		switch {
		case quote != 0 && c == '\\' && i+1 < len(src):
			if !strings.ContainsRune(goEscapes, rune(src[i+1])) {
				b.WriteByte('\\')
			}
			b.WriteString(src[i : i+2])
			i += 2
			continue
		case quote != 0 && c == quote:
			quote = 0
		case quote == 0 && (c == '\'' || c == '"'):
			quote = c
		case quote == 0 && strings.HasPrefix(src[i:], closer):
			b.WriteString(closer)
			return i + 2
		case quote == 0 && c == '\n':
			c = ' '
		}
		b.WriteByte(c)
		i++
	}
	return i
}

// goEscapes are the characters after a backslash that Go's unquoting accepts, with the
// meaning Python gives them.
const goEscapes = `abfnrtv\'"xuU01234567`
