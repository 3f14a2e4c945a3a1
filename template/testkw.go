package template

import (
	"strings"
)

// gonja reads a test's arguments as one variable or literal, so keyword
// arguments (`crio_version is version("1.29.0", operator=">=")`, kubespray's
// cri-o role) do not parse. testKwargs rewrites them into a trailing dict
// under kwMarker, which valueTest turns back into keyword arguments:
// `is version(("1.29.0", {"__gpuctl_kw": {"operator": ">="}}))`.
func testKwargs(src string) string {
	if !strings.Contains(src, " is ") || !strings.Contains(src, "=") {
		return src
	}
	return eachBlock(src, rewriteTestKwargs)
}

const kwMarker = "__gpuctl_kw"

func rewriteTestKwargs(e string) string {
	var b strings.Builder
	last := 0
	outsideQuotes(e, 0, func(k int) bool {
		if k < last || !isWord(e, k, "is") {
			return true
		}
		n := skipSpace(e, k+2)
		if isWord(e, n, "not") {
			n = skipSpace(e, n+3)
		}
		m := n
		for m < len(e) && (identChar(e[m]) || e[m] == '.') {
			m++
		}
		p := skipSpace(e, m)
		if m == n || p >= len(e) || e[p] != '(' {
			return true
		}
		end := balanced(e, p) // after the closing parenthesis
		inner := e[p+1 : end-1]
		var pos, kw []string
		for _, a := range splitTopLevel(inner) {
			if j := strings.IndexByte(a, '='); j > 0 && isName(strings.TrimSpace(a[:j])) && !strings.HasPrefix(a[j:], "==") {
				kw = append(kw, "'"+strings.TrimSpace(a[:j])+"': "+a[j+1:])
				continue
			}
			pos = append(pos, a)
		}
		if len(kw) == 0 {
			return true
		}
		marker := "{'" + kwMarker + "': {" + strings.Join(kw, ", ") + "}}"
		b.WriteString(e[last:p])
		if len(pos) == 0 {
			b.WriteString("(" + marker + ")")
		} else {
			b.WriteString("((" + strings.Join(pos, ",") + ", " + marker + "))")
		}
		last = end
		return true
	})
	b.WriteString(e[last:])
	return b.String()
}

// takeKwargs undoes testKwargs on a test's arguments: the marker dict,
// last, alone or in the tuple gonja made of the parentheses.
func takeKwargs(args []any, kw map[string]any) []any {
	marker := func(v any) (map[string]any, bool) {
		m, ok := v.(map[string]any)
		if !ok || len(m) != 1 {
			return nil, false
		}
		inner, ok := m[kwMarker].(map[string]any)
		return inner, ok
	}
	if len(args) == 1 {
		if l, ok := args[0].([]any); ok && len(l) > 0 {
			if m, ok := marker(l[len(l)-1]); ok {
				for k, v := range m {
					kw[k] = v
				}
				return l[:len(l)-1]
			}
		}
	}
	if len(args) > 0 {
		if m, ok := marker(args[len(args)-1]); ok {
			for k, v := range m {
				kw[k] = v
			}
			return args[:len(args)-1]
		}
	}
	return args
}
