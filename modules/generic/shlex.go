package generic

import (
	"errors"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
)

// splitArgs splits a command line into words the way Python's shlex (and
// so Ansible's command module) does in POSIX mode: quotes group, backslash
// escapes, and nothing else is special. The words are quoted again before
// they reach the host's shell, so $VAR, |, > and * stay literal, as
// Ansible promises for command.
func splitArgs(s string) ([]string, error) {
	var (
		out     []string
		cur     strings.Builder
		inWord  bool
		quote   rune
		escaped bool
	)
	for _, r := range s {
		switch {
		case escaped:
			// Inside double quotes a backslash only escapes \ and ", as
			// in Python's shlex.
			if quote == '"' && r != '\\' && r != '"' {
				cur.WriteRune('\\')
			}
			cur.WriteRune(r)
			escaped = false
		case quote == '\'':
			if r == '\'' {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case quote == '"':
			switch r {
			case '"':
				quote = 0
			case '\\':
				escaped = true
			default:
				cur.WriteRune(r)
			}
		case r == '\\':
			escaped, inWord = true, true
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t' || r == '\n' || r == '\r':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, errors.New("unterminated quote in command line")
	}
	if escaped {
		return nil, errors.New("command line ends with a backslash")
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out, nil
}

// globWord quotes a path for the shell except its glob characters, so
// creates: "/opt/my dir/*.done" matches as Ansible's glob would.
func globWord(p string) string {
	var b strings.Builder
	start := 0
	for i, r := range p {
		if r == '*' || r == '?' || r == '[' || r == ']' {
			if start < i {
				b.WriteString(conn.Quote(p[start:i]))
			}
			b.WriteRune(r)
			start = i + 1
		}
	}
	if start < len(p) {
		b.WriteString(conn.Quote(p[start:]))
	}
	return b.String()
}

func hasGlob(p string) bool { return strings.ContainsAny(p, "*?[") }
