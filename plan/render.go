package plan

import (
	"fmt"
	"io"
	"strings"

	"github.com/aymanbagabas/go-udiff"
)

// Style colours text output; the zero value prints plain text.
type Style struct {
	Add, Del, Mod, Dim, Reset string
}

// ColorStyle is ANSI colour for terminals.
var ColorStyle = Style{Add: "\x1b[32m", Del: "\x1b[31m", Mod: "\x1b[33m", Dim: "\x1b[2m", Reset: "\x1b[0m"}

// WriteText renders a diff for people: one line per change, file contents
// as unified diffs, secrets masked. indent prefixes every line.
func WriteText(w io.Writer, d Diff, secrets []string, indent string, st Style) {
	d = d.Masked(secrets)
	if d.Unknown != "" {
		why := strings.TrimPrefix(strings.TrimPrefix(d.Unknown, "known after apply: "), "known after apply")
		fmt.Fprintf(w, "%s%s? known after apply: %s%s\n", indent, st.Mod, strings.TrimPrefix(why, ": "), st.Reset)
	}
	for _, c := range d.Changes {
		col := st.Mod
		switch c.Action {
		case Create:
			col = st.Add
		case Delete:
			col = st.Del
		}
		head := fmt.Sprintf("%s%s%s %s", indent, col, c.Action.Symbol(), c.Resource)
		if c.Field != "" {
			head += " " + c.Field
		}
		switch {
		case c.Content && !c.Sensitive:
			fmt.Fprintf(w, "%s%s\n", head, st.Reset)
			writeUnified(w, c, indent+"    ", st)
		case c.Before == "" && c.After == "":
			fmt.Fprintf(w, "%s%s\n", head, st.Reset)
		case c.Before == "":
			fmt.Fprintf(w, "%s: %s%s\n", head, oneLine(c.After), st.Reset)
		case c.After == "":
			fmt.Fprintf(w, "%s: %s (removed)%s\n", head, oneLine(c.Before), st.Reset)
		default:
			fmt.Fprintf(w, "%s: %s → %s%s\n", head, oneLine(c.Before), oneLine(c.After), st.Reset)
		}
	}
	for _, n := range d.Notes {
		fmt.Fprintf(w, "%s%snote: %s%s\n", indent, st.Dim, n, st.Reset)
	}
}

// Unified returns the unified diff of a content change.
func Unified(c Change) string {
	name := strings.TrimPrefix(c.Resource, "file:")
	before, after := c.Before, c.After
	if before != "" && !strings.HasSuffix(before, "\n") {
		before += "\n\\ No newline at end of file\n"
	}
	if after != "" && !strings.HasSuffix(after, "\n") {
		after += "\n\\ No newline at end of file\n"
	}
	return udiff.Unified("before: "+name, "after: "+name, before, after)
}

func writeUnified(w io.Writer, c Change, indent string, st Style) {
	for _, line := range strings.Split(strings.TrimRight(Unified(c), "\n"), "\n") {
		col := ""
		switch {
		case strings.HasPrefix(line, "+++"), strings.HasPrefix(line, "---"):
			col = st.Dim
		case strings.HasPrefix(line, "+"):
			col = st.Add
		case strings.HasPrefix(line, "-"):
			col = st.Del
		case strings.HasPrefix(line, "@@"):
			col = st.Dim
		}
		if col != "" {
			fmt.Fprintf(w, "%s%s%s%s\n", indent, col, line, st.Reset)
		} else {
			fmt.Fprintf(w, "%s%s\n", indent, line)
		}
	}
}

func oneLine(s string) string {
	s = strings.TrimRight(s, "\n")
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return fmt.Sprintf("%q", s)
	}
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}
