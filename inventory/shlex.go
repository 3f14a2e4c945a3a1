package inventory

import (
	"errors"
	"strings"
)

// shlexSplit splits a line as Python's shlex.split(line, comments=True),
// which ansible-core uses for INI host lines: POSIX quoting, backslash
// escapes, and '#' outside quotes ending the line.
func shlexSplit(line string) ([]string, error) {
	var (
		out    []string
		cur    strings.Builder
		inWord bool
	)
	flush := func() {
		if inWord {
			out = append(out, cur.String())
			cur.Reset()
			inWord = false
		}
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			flush()
		case c == '#':
			flush()
			return out, nil
		case c == '\\':
			if i+1 >= len(line) {
				return nil, errors.New("no escaped character")
			}
			i++
			cur.WriteByte(line[i])
			inWord = true
		case c == '\'':
			end := strings.IndexByte(line[i+1:], '\'')
			if end < 0 {
				return nil, errors.New("no closing quotation")
			}
			cur.WriteString(line[i+1 : i+1+end])
			i += end + 1
			inWord = true
		case c == '"':
			j, err := doubleQuoted(line, i+1, &cur)
			if err != nil {
				return nil, err
			}
			i = j
			inWord = true
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	flush()
	return out, nil
}

// doubleQuoted copies a "..." body starting at i into b and returns the
// index of the closing quote; only \" and \\ are escapes inside.
func doubleQuoted(line string, i int, b *strings.Builder) (int, error) {
	for ; i < len(line); i++ {
		switch c := line[i]; {
		case c == '"':
			return i, nil
		case c == '\\' && i+1 < len(line) && (line[i+1] == '"' || line[i+1] == '\\'):
			i++
			b.WriteByte(line[i])
		default:
			b.WriteByte(c)
		}
	}
	return 0, errors.New("no closing quotation")
}
