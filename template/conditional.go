package template

import (
	"fmt"
	"strings"
)

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
		pre, e := hoistGroups(name, expr)
		return pre + "{% set " + name + " = " + e + " %}"
	}
	alt := `{% set ` + name + ` = "" %}`
	if c.hasElse {
		alt = setStatement(name, c.alt)
	}
	return "{% if " + c.cond + " %}" + setStatement(name, c.a) + "{% else %}" + alt + "{% endif %}"
}

// hoistGroups takes each parenthesized conditional out of expr (`'x-' ~ (a if b else c)`),
// which gonja can't parse, into a {% set %} of its own, named after name, placed before
// the expression; so is a conditional call argument (`format(a if b else c)`).
// A group is only reached when expr itself is not conditional, so branches of an outer
// conditional keep Jinja2's lazy evaluation.
func hoistGroups(name, expr string) (pre, out string) {
	var b strings.Builder
	n := 0
	var quote byte
	for i := 0; i < len(expr); i++ {
		c := expr[i]
		switch {
		case quote != 0:
			if c == '\\' && i+1 < len(expr) {
				b.WriteByte(c)
				i++
				c = expr[i]
			} else if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '[':
			// a subscript (`tls[a if b else 'x']`) or a list literal, whose
			// items may each be conditional
			end := matchingClose(expr, i, '[', ']')
			if end < 0 {
				break
			}
			sub := fmt.Sprintf("%s_s%d", name, n)
			n++
			var p, e string
			if isCall(expr, i) {
				p, e = hoistOne(sub, expr[i+1:end])
			} else {
				p, e = hoistArgs(sub, expr[i+1:end])
			}
			pre += p
			b.WriteString("[" + e + "]")
			i = end
			continue
		case c == '(':
			end := matchingParen(expr, i)
			if end < 0 {
				break
			}
			sub := fmt.Sprintf("%s_p%d", name, n)
			n++
			var p, e string
			if isCall(expr, i) {
				p, e = hoistArgs(sub, expr[i+1:end])
			} else {
				p, e = hoistOne(sub, expr[i+1:end])
			}
			pre += p
			b.WriteString("(" + e + ")")
			i = end
			continue
		}
		b.WriteByte(c)
	}
	return pre, b.String()
}

// hoistOne hoists expr when it is conditional (returning the variable's name), else the
// groups inside it.
func hoistOne(name, expr string) (pre, out string) {
	t := strings.TrimSpace(expr)
	if _, ok := splitConditional(t); ok {
		return setStatement(name, t), name
	}
	return hoistGroups(name, expr)
}

// hoistArgs hoists each conditional argument of a call (`format('z' if n else 'w')`,
// also as a keyword argument's value).
func hoistArgs(name, args string) (pre, out string) {
	parts := splitTopLevel(args)
	for k, a := range parts {
		kw := ""
		if j := strings.IndexByte(a, '='); j > 0 && isName(strings.TrimSpace(a[:j])) && !strings.HasPrefix(a[j:], "==") {
			kw, a = a[:j+1], a[j+1:]
		}
		p, e := hoistOne(fmt.Sprintf("%s_a%d", name, k), a)
		pre += p
		parts[k] = kw + e
	}
	return pre, strings.Join(parts, ",")
}

// splitTopLevel splits s at its commas outside string literals and brackets.
func splitTopLevel(s string) []string {
	var parts []string
	last := 0
	scanTopLevel(s, func(i int) bool {
		if s[i] == ',' {
			parts = append(parts, s[last:i])
			last = i + 1
		}
		return true
	})
	return append(parts, s[last:])
}

func isName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isIdent(s[i]) || s[i] == '.' {
			return false
		}
	}
	return true
}

// isCall reports whether the parenthesis at i opens a call's arguments (or the bracket at i
// a subscript): it follows a name, a call or a subscript.
func isCall(expr string, i int) bool {
	k := i - 1
	for k >= 0 && expr[k] == ' ' {
		k--
	}
	if k < 0 {
		return false
	}
	if c := expr[k]; c == ')' || c == ']' {
		return true
	}
	if !isIdent(expr[k]) {
		return false
	}
	// A keyword before the parenthesis (`not (a if b else c)`) makes it a group.
	j := k
	for j >= 0 && isIdent(expr[j]) {
		j--
	}
	switch expr[j+1 : k+1] {
	case "not", "and", "or", "in", "is", "if", "else":
		return false
	}
	return true
}

// matchingParen is the index of the parenthesis closing the one at i, or -1.
func matchingParen(expr string, i int) int { return matchingClose(expr, i, '(', ')') }

// matchingClose is the index of the close bracket matching the open one at i, or -1.
func matchingClose(expr string, i int, open, close byte) int {
	end, depth := -1, 0
	outsideQuotes(expr, i, func(k int) bool {
		switch expr[k] {
		case open:
			depth++
		case close:
			depth--
			if depth == 0 {
				end = k
				return false
			}
		}
		return true
	})
	return end
}

// outsideQuotes calls f with each index of s from i on that is outside a string literal,
// until f returns false.
func outsideQuotes(s string, i int, f func(k int) bool) {
	var quote byte
	for k := i; k < len(s); k++ {
		c := s[k]
		switch {
		case quote != 0:
			if c == '\\' {
				k++
			} else if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		default:
			if !f(k) {
				return
			}
		}
	}
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
		b.WriteString(rewriteBlock(src[j:end], fmt.Sprintf("__gpuctl_b%d", j)))
		i = end
	}
	return b.String()
}

// blockEnd is the index after the "}}" closing the block whose body starts at i, or -1.
func blockEnd(src string, i int) int {
	end, depth := -1, 0
	outsideQuotes(src, i, func(k int) bool {
		switch c := src[k]; {
		case c == '(' || c == '[' || c == '{':
			depth++
		case c == ')' || c == ']':
			depth--
		case c == '}' && depth == 0 && k+1 < len(src) && src[k+1] == '}':
			end = k + 2
			return false
		case c == '}':
			depth--
		}
		return true
	})
	return end
}

// rewriteBlock rewrites one "{{ … }}" block when it holds a chain of conditionals or a
// parenthesized conditional; name names the variables hoisted out of it.
func rewriteBlock(block, name string) string {
	open, close := "{{", "}}"
	inner := block[2 : len(block)-2]
	if strings.HasPrefix(inner, "-") {
		open, inner = "{{-", inner[1:]
	}
	if strings.HasSuffix(inner, "-") {
		close, inner = "-}}", inner[:len(inner)-1]
	}
	hoisted := func() string {
		pre, e := hoistGroups(name, inner)
		if pre == "" {
			return block
		}
		if open == "{{-" {
			pre = "{%-" + strings.TrimPrefix(pre, "{%")
		}
		return pre + open + e + close
	}
	c, ok := splitConditional(strings.TrimSpace(inner))
	if !ok || !c.hasElse {
		return hoisted()
	}
	if _, chained := splitConditional(c.alt); !chained {
		// a conditional whose branches hold parenthesized ones (dev-sec's
		// sshd_config: `x if (c) else ('yes' if (y|bool) else 'no')`)
		return hoisted()
	}
	lead, trail := "{%", "%}"
	if open == "{{-" {
		lead = "{%-"
	}
	if close == "-}}" {
		trail = "-%}"
	}
	return lead + " if " + c.cond + " %}{{ " + c.a + " }}{% else %}" +
		rewriteBlock("{{ "+c.alt+" }}", name+"_e") + "{% endif " + trail
}
