package inventory

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/gpuctl/gpuctl/internal/pyre"
)

// ErrNoMatch is wrapped when a pattern selects no hosts.
var ErrNoMatch = errors.New("no hosts matched")

// Match selects hosts by an Ansible pattern. When nothing matches and
// part of the pattern named nothing known, the error wraps ErrNoMatch and
// carries Ansible's warnings.
func (inv *Inventory) Match(pattern string) ([]*Host, error) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	hosts, warnings, err := inv.selectHosts(pattern)
	if err != nil {
		return nil, err
	}
	if len(hosts) == 0 && len(warnings) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrNoMatch, strings.Join(warnings, "; "))
	}
	return hosts, nil
}

// Select evaluates a host pattern as ansible-core's InventoryManager:
// "all", "*", groups, hosts, fnmatch globs, "~regex", unions ("a,b" or
// "a:b"), intersections "&b" and exclusions "!b" (applied after the
// unions), and subscripts group[0], group[-1], group[1:3], group[1:] and
// group[:2] (the last is in Ansible's documentation but not in 2.14's code).
// Localhost names give the implicit localhost when the inventory lacks
// them. warnings repeat Ansible's ("Could not match supplied host
// pattern, ignoring: x").
func (inv *Inventory) Select(pattern string) (hosts []*Host, warnings []string, err error) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	return inv.selectHosts(pattern)
}

// HostNames is Select over several patterns, as ansible-core's get_hosts
// takes a list (each split on its own): the names of the hosts they select,
// for the inventory_hostnames lookup.
func (inv *Inventory) HostNames(patterns []string) ([]string, error) {
	var parts []string
	for _, p := range patterns {
		parts = append(parts, splitPattern(p)...)
	}
	inv.mu.Lock()
	defer inv.mu.Unlock()
	hosts, _, err := inv.selectParts(parts)
	out := make([]string, len(hosts))
	for i, h := range hosts {
		out[i] = h.Name
	}
	return out, err
}

func (inv *Inventory) selectHosts(pattern string) ([]*Host, []string, error) {
	return inv.selectParts(splitPattern(pattern))
}

func (inv *Inventory) selectParts(split []string) (hosts []*Host, warnings []string, err error) {
	parts := orderPatterns(split)
	var names []string
	for _, p := range parts {
		if _, ok := inv.hosts[p]; ok {
			names = appendNew(names, p)
			continue
		}
		that, warn, err := inv.matchOne(p)
		if err != nil {
			return nil, nil, err
		}
		warnings = append(warnings, warn...)
		switch p[0] {
		case '!':
			names = slices.DeleteFunc(names, func(n string) bool { return slices.Contains(that, n) })
		case '&':
			names = slices.DeleteFunc(names, func(n string) bool { return !slices.Contains(that, n) })
		default:
			for _, n := range that {
				names = appendNew(names, n)
			}
		}
	}
	for _, n := range names {
		h, _ := inv.host(n)
		hosts = append(hosts, h)
	}
	return hosts, warnings, nil
}

func appendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// splitPattern follows ansible-core's split_host_pattern: commas separate;
// without commas, a valid address (IPv6, host[1:3]) stays whole and
// anything else splits on ':' outside brackets.
func splitPattern(p string) []string {
	var parts []string
	switch {
	case strings.Contains(p, ","):
		parts = strings.Split(p, ",")
	case isAddress(p):
		parts = []string{p}
	default:
		parts = colonSplit.FindAllString(p, -1)
	}
	out := parts[:0]
	for _, s := range parts {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

var colonSplit = regexp.MustCompile(`(?:[^\s:\[\]]|\[[^\]]*\])+`)

func isAddress(s string) bool {
	host, _ := splitHostPort(s)
	return validAddress(host)
}

// orderPatterns runs unions first, then intersections, then exclusions;
// with no union, "all" is implied.
func orderPatterns(ps []string) []string {
	var regular, and, not []string
	for _, p := range ps {
		switch p[0] {
		case '!':
			not = append(not, p)
		case '&':
			and = append(and, p)
		default:
			regular = append(regular, p)
		}
	}
	if len(regular) == 0 {
		regular = []string{"all"}
	}
	return append(append(regular, and...), not...)
}

var subscriptRe = regexp.MustCompile(`^(.+)\[(?:(-?[0-9]+)|([0-9]*)([:-])([0-9]*))\]$`)

// matchOne evaluates one pattern without its & or ! prefix.
func (inv *Inventory) matchOne(p string) ([]string, []string, error) {
	expr := strings.TrimLeft(p, "&!")
	if expr == "" {
		return nil, nil, fmt.Errorf("host pattern %q is empty after %q", p, p[:1])
	}
	base, sub := expr, ""
	var m []string
	if expr[0] != '~' {
		if m = subscriptRe.FindStringSubmatch(expr); m != nil {
			base, sub = m[1], expr[len(m[1]):]
		}
	}
	names, warnings, err := inv.enumerate(base)
	if err != nil || m == nil || len(names) == 0 {
		return names, warnings, err
	}
	picked, ok := applySubscript(names, m)
	if !ok {
		return nil, append(warnings, fmt.Sprintf("No hosts matched the subscripted pattern '%s%s'", base, sub)), nil
	}
	return picked, warnings, nil
}

// applySubscript picks [i] (negative counts from the end) or the inclusive
// range [a:b] ([a:] to the end, [:b] from the start).
func applySubscript(names []string, m []string) ([]string, bool) {
	if m[2] != "" {
		i, _ := strconv.Atoi(m[2])
		if i < 0 {
			i += len(names)
		}
		if i < 0 || i >= len(names) {
			return nil, false
		}
		return names[i : i+1], true
	}
	start, end := 0, len(names)-1
	if m[3] != "" {
		start, _ = strconv.Atoi(m[3])
	}
	if m[5] != "" {
		end, _ = strconv.Atoi(m[5])
	}
	end = min(end, len(names)-1)
	if start > end {
		return nil, false
	}
	return names[start : end+1], true
}

// enumerate matches groups (all of their hosts) and, when no group
// matched or the pattern is a glob or regex, host names.
func (inv *Inventory) enumerate(expr string) ([]string, []string, error) {
	re, err := compilePattern(expr)
	if err != nil {
		return nil, nil, err
	}
	var names []string
	groupsMatched := false
	for _, gn := range inv.groupOrder {
		if re.MatchString(gn) {
			groupsMatched = true
			for _, h := range inv.groupHosts(gn) {
				names = appendNew(names, h)
			}
		}
	}
	if !groupsMatched || expr[0] == '~' || strings.ContainsAny(expr, ".?*[") {
		for _, hn := range inv.order {
			if re.MatchString(hn) {
				names = appendNew(names, hn)
			}
		}
	}
	if len(names) == 0 && inv.implicitLocalhost(expr) != nil {
		names = append(names, inv.implicitLocalhost(expr).Name)
	}
	var warnings []string
	if len(names) == 0 && !groupsMatched && expr != "all" {
		warnings = append(warnings, "Could not match supplied host pattern, ignoring: "+expr)
	}
	return names, warnings, nil
}

// nameMatcher tells whether a host or group name matches a pattern.
type nameMatcher interface{ MatchString(string) bool }

// pyMatch is Python's re.match: a match from the start of the name.
type pyMatch struct{ re *pyre.Regexp }

func (p pyMatch) MatchString(s string) bool { m, _ := p.re.Match(s); return m != nil }

// compilePattern turns "~regex" (a Python regexp matched at the start, as
// re.match) or an fnmatch glob (matched whole) into a matcher.
func compilePattern(p string) (nameMatcher, error) {
	if strings.HasPrefix(p, "~") {
		re, err := pyre.Compile(p[1:], 0)
		if err != nil {
			return nil, fmt.Errorf("invalid host list pattern %s: %w", p, err)
		}
		return pyMatch{re}, nil
	}
	re, err := regexp.Compile(`^(?s:` + globToRegexp(p) + `)$`)
	if err != nil {
		return nil, fmt.Errorf("invalid host pattern %q: %w", p, err)
	}
	return re, nil
}

// globToRegexp is Python's fnmatch.translate: * ? [seq] [!seq].
func globToRegexp(pattern string) string {
	var b strings.Builder
	p := []rune(pattern)
	for i := 0; i < len(p); i++ {
		switch c := p[i]; c {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		case '[':
			j := i + 1
			if j < len(p) && p[j] == '!' {
				j++
			}
			if j < len(p) && p[j] == ']' {
				j++
			}
			for j < len(p) && p[j] != ']' {
				j++
			}
			if j >= len(p) {
				b.WriteString(`\[`)
				continue
			}
			b.WriteString("[" + classBody(string(p[i+1:j])) + "]")
			i = j
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	return b.String()
}

// classBody escapes a [seq] body for RE2, reading a leading ! as negation.
func classBody(body string) string {
	var b strings.Builder
	for i, c := range body {
		switch {
		case i == 0 && c == '!':
			b.WriteByte('^')
		case c == '\\' || c == ']' || c == '[' || (i == 0 && c == '^'):
			b.WriteByte('\\')
			b.WriteRune(c)
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}
