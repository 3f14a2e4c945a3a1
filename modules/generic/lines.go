package generic

import (
	"strconv"
	"strings"

	"github.com/gpuctl/gpuctl/internal/pyre"
)

// lineEdit is lineinfile's algorithm, ported from Ansible so that files
// edited by both tools converge to the same bytes. It is pure: Check and
// Apply both call it on the contents read from the host.
type lineEdit struct {
	re           *pyre.Regexp // regexp; nil when not given
	search       *string      // search_string; nil when not given
	line         string
	absent       bool
	insertAfter  string // "" when not given; "EOF" is special
	insertBefore string // "" when not given; "BOF" is special
	ins          *pyre.Regexp
	backrefs     bool
	firstMatch   bool
}

// splitLines splits after each "\n", keeping it, like Python's
// readlines(); a final line without newline is kept as is.
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	parts := strings.SplitAfter(s, "\n")
	if parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	return parts
}

func stripEOL(l string) string { return strings.TrimRight(l, "\r\n") }

func endsEOL(l string) bool { return strings.HasSuffix(l, "\n") || strings.HasSuffix(l, "\r") }

// apply returns the edited contents and what happened ("line added",
// "line replaced", "N line(s) removed" or "").
func (e lineEdit) apply(content string) (string, string) {
	lines := splitLines(content)
	if e.absent {
		return e.remove(lines)
	}
	index0, index1 := -1, -1
	var sub *pyre.Match // the regexp's match, for backrefs
	matched := false
	if e.re != nil {
		// Python's re.search on the line with its newline, as Ansible's: pyre's $ matches
		// before that newline, as Python's does.
		for i, l := range lines {
			if m, _ := e.re.Search(l); m != nil {
				index0, sub, matched = i, m, true
				if e.firstMatch {
					break
				}
			}
		}
	}
	if e.search != nil {
		for i, l := range lines {
			if strings.Contains(l, *e.search) {
				index0, matched = i, true
				if e.firstMatch {
					break
				}
			}
		}
	}
	exact := false
	if !matched {
		for i, l := range lines {
			if stripEOL(l) == e.line {
				index0, exact = i, true
			} else if e.ins != nil && e.ins.MatchString(l) {
				if e.insertAfter != "" {
					index1 = i + 1
					if e.firstMatch {
						break
					}
				}
				if e.insertBefore != "" {
					index1 = i
					if e.firstMatch {
						break
					}
				}
			}
		}
	}
	newLine := e.line
	if e.backrefs && sub != nil {
		if t, err := e.re.ParseTemplate(e.line); err == nil { // Validate parsed it
			newLine = t.Expand(sub)
		}
	}
	switch {
	case index0 != -1:
		if !strings.HasSuffix(newLine, "\n") {
			newLine += "\n"
		}
		if e.re == nil && e.search == nil && !exact {
			break // unreachable in Ansible too: kept for a faithful port
		}
		if lines[index0] != newLine {
			lines[index0] = newLine
			return strings.Join(lines, ""), "line replaced"
		}
		return content, ""
	case e.backrefs:
		// Without a match there is nothing to fill the backrefs from.
		return content, ""
	case e.insertBefore == "BOF" || e.insertAfter == "BOF":
		return strings.Join(insert(lines, 0, e.line+"\n"), ""), "line added"
	case e.insertAfter == "EOF" || index1 == -1:
		if len(lines) > 0 && !endsEOL(lines[len(lines)-1]) {
			lines = append(lines, "\n")
		}
		return strings.Join(append(lines, e.line+"\n"), ""), "line added"
	case e.insertAfter != "":
		if !endsEOL(lines[len(lines)-1]) {
			lines[len(lines)-1] += "\n"
		}
		if index1 == len(lines) {
			if stripEOL(lines[index1-1]) != e.line {
				return strings.Join(append(lines, e.line+"\n"), ""), "line added"
			}
			return content, ""
		}
		if stripEOL(lines[index1]) != e.line {
			return strings.Join(insert(lines, index1, e.line+"\n"), ""), "line added"
		}
		return content, ""
	default: // insertbefore matched; an exact line would have matched above
		return strings.Join(insert(lines, index1, e.line+"\n"), ""), "line added"
	}
	return content, ""
}

func (e lineEdit) remove(lines []string) (string, string) {
	var kept []string
	removed := 0
	for _, l := range lines {
		var hit bool
		switch {
		case e.re != nil:
			hit = e.re.MatchString(l)
		case e.search != nil:
			hit = strings.Contains(l, *e.search)
		default:
			hit = stripEOL(l) == e.line
		}
		if hit {
			removed++
		} else {
			kept = append(kept, l)
		}
	}
	if removed == 0 {
		return strings.Join(lines, ""), ""
	}
	msg := "1 line removed"
	if removed > 1 {
		msg = strconv.Itoa(removed) + " lines removed"
	}
	return strings.Join(kept, ""), msg
}

func insert(lines []string, i int, l string) []string {
	return append(lines[:i], append([]string{l}, lines[i:]...)...)
}
