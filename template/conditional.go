package template

import "strings"

// gonja parses a conditional expression (`A if B else C`) only as the whole of a {{ }}
// block and with an alternative that is not itself conditional; Jinja2 takes it anywhere
// an expression goes and chains it (`A if B else C if D else E`, common in role defaults).
// The two places gpuctl builds on it are rewritten into {% if %} statements, which gonja
// reads: Eval's `{% set %}` capture, and {{ }} blocks holding a chain.

// conditional is `a if cond else alt` split at its top level; alt is empty without else.
type conditional struct {
	a, cond, alt string
	hasElse      bool
}

// splitConditional splits expr at its top-level `if` and the `else` that follows, outside
// string literals and brackets. ok is false when expr has no top-level if.
func splitConditional(expr string) (conditional, bool) {
	ifAt, elseAt := -1, -1
	scanTopLevel(expr, func(i int) bool {
		switch {
		case ifAt < 0 && keywordAt(expr, i, "if"):
			ifAt = i
		case ifAt >= 0 && keywordAt(expr, i, "else"):
			elseAt = i
			return false
		}
		return true
	})
	if ifAt <= 0 {
		return conditional{}, false
	}
	c := conditional{a: strings.TrimSpace(expr[:ifAt])}
	if elseAt < 0 {
		c.cond = strings.TrimSpace(expr[ifAt+2:])
	} else {
		c.cond, c.alt, c.hasElse = strings.TrimSpace(expr[ifAt+2:elseAt]), strings.TrimSpace(expr[elseAt+4:]), true
	}
	if c.a == "" || c.cond == "" || (c.hasElse && c.alt == "") {
		return conditional{}, false
	}
	return c, true
}

// scanTopLevel calls f with each index of expr outside string literals and brackets, until
// f returns false.
func scanTopLevel(expr string, f func(i int) bool) {
	var quote byte
	depth := 0
	for i := 0; i < len(expr); i++ {
		c := expr[i]
		switch {
		case quote != 0:
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			}
			continue
		case c == '\'' || c == '"':
			quote = c
			continue
		case c == '(' || c == '[' || c == '{':
			depth++
			continue
		case c == ')' || c == ']' || c == '}':
			depth--
			continue
		}
		if depth == 0 && !f(i) {
			return
		}
	}
}

// keywordAt reports whether the word kw stands alone at expr[i:].
func keywordAt(expr string, i int, kw string) bool {
	if !strings.HasPrefix(expr[i:], kw) {
		return false
	}
	if i > 0 && isIdent(expr[i-1]) {
		return false
	}
	end := i + len(kw)
	return end == len(expr) || !isIdent(expr[end])
}

func isIdent(c byte) bool {
	return c == '_' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// setStatement is `{% set name = expr %}`, with a conditional expr turned into {% if %}
// branches that each set name (a missing else sets the empty string, as Jinja2 renders it).
func setStatement(name, expr string) string {
	c, ok := splitConditional(expr)
	if !ok {
		return "{% set " + name + " = " + expr + " %}"
	}
	alt := `{% set ` + name + ` = "" %}`
	if c.hasElse {
		alt = setStatement(name, c.alt)
	}
	return "{% if " + c.cond + " %}" + setStatement(name, c.a) + "{% else %}" + alt + "{% endif %}"
}

// chainedConditionals rewrites each {{ }} block of src holding a chain of conditionals into
// {% if %} statements; other blocks are left to gonja.
func chainedConditionals(src string) string {
	if !strings.Contains(src, " if ") || !strings.Contains(src, "{{") {
		return src
	}
	var b strings.Builder
	for i := 0; i < len(src); {
		j := strings.Index(src[i:], "{{")
		if j < 0 {
			b.WriteString(src[i:])
			break
		}
		j += i
		b.WriteString(src[i:j])
		end := blockEnd(src, j+2)
		if end < 0 {
			b.WriteString(src[j:])
			break
		}
		b.WriteString(rewriteBlock(src[j:end]))
		i = end
	}
	return b.String()
}

// blockEnd is the index after the "}}" closing the block whose body starts at i, or -1.
func blockEnd(src string, i int) int {
	var quote byte
	depth := 0
	for k := i; k < len(src); k++ {
		c := src[k]
		switch {
		case quote != 0:
			if c == '\\' {
				k++
			} else if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '(' || c == '[' || c == '{':
			depth++
		case c == ')' || c == ']':
			depth--
		case c == '}' && depth == 0 && k+1 < len(src) && src[k+1] == '}':
			return k + 2
		case c == '}':
			depth--
		}
	}
	return -1
}

// rewriteBlock rewrites one "{{ … }}" block when it holds a chain of conditionals.
func rewriteBlock(block string) string {
	open, close := "{{", "}}"
	inner := block[2 : len(block)-2]
	if strings.HasPrefix(inner, "-") {
		open, inner = "{{-", inner[1:]
	}
	if strings.HasSuffix(inner, "-") {
		close, inner = "-}}", inner[:len(inner)-1]
	}
	c, ok := splitConditional(strings.TrimSpace(inner))
	if !ok || !c.hasElse {
		return block
	}
	if _, chained := splitConditional(c.alt); !chained {
		return block
	}
	lead, trail := "{%", "%}"
	if open == "{{-" {
		lead = "{%-"
	}
	if close == "-}}" {
		trail = "-%}"
	}
	return lead + " if " + c.cond + " %}{{ " + c.a + " }}{% else %}" +
		rewriteBlock("{{ "+c.alt+" }}") + "{% endif " + trail
}
