package inventory

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Host entries follow ansible-core's parse_address and
// expand_hostname_range: "name", "name:port", "[ipv6]:port", and ranges
// "node[01:10]", "node[a:f]", "node[1:10:2]", several per name.
var (
	bracketedHostPort = regexp.MustCompile(`^\[(.+)\]:([0-9]+)$`)
	hostPort          = regexp.MustCompile(`^((?:[^:\[\]]|\[[^\]]*\])*):([0-9]+)$`)
	rangeExpr         = `\[(?:[a-z]:[a-z]|[0-9]+:[0-9]+)(?::[0-9]+)?\]`
	hexRangeExpr      = `\[(?:[0-9a-f]+:[0-9a-f]+)(?::[0-9]+)?\]`
	ipv4Part          = `(?:[01]?[0-9]{1,2}|2[0-4][0-9]|25[0-5]|\[[0-9]+:[0-9]+(?::[0-9]+)?\])`
	ipv4Addr          = regexp.MustCompile(`^(?:` + ipv4Part + `\.){3}` + ipv4Part + `$`)
	ipv6Addr          = regexp.MustCompile(`(?i)^(?:[0-9a-f]{0,4}|` + hexRangeExpr + `)(?::(?:[0-9a-f]{0,4}|` + hexRangeExpr + `|(?:[0-9]{1,3}\.){3}[0-9]{1,3})){2,7}$`)
	hostLabel         = `(?:\w|` + rangeExpr + `)(?:[\w-]|` + rangeExpr + `)*`
	hostName          = regexp.MustCompile(`(?i)^` + hostLabel + `(?:\.` + hostLabel + `)*$`)
)

// splitHostPort returns the host part and the port (0: none). Anything
// that is not a valid address stays whole, as in ansible-core.
func splitHostPort(s string) (string, int) {
	host, port := s, ""
	if m := bracketedHostPort.FindStringSubmatch(host); m != nil {
		host, port = m[1], m[2]
	}
	if m := hostPort.FindStringSubmatch(host); m != nil {
		host, port = m[1], m[2]
	}
	if !validAddress(host) {
		return s, 0
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		return host, 0
	}
	return host, n
}

func validAddress(h string) bool {
	if ipv4Addr.MatchString(h) || ipv6Addr.MatchString(h) {
		return true
	}
	if !hostName.MatchString(h) {
		return false
	}
	// labels may not end in _ or - (Python's lookbehind, spelled out)
	for _, l := range strings.Split(h, ".") {
		if strings.HasSuffix(l, "-") || strings.HasSuffix(l, "_") {
			return false
		}
	}
	return true
}

// expandHosts turns one host entry into host names and a port.
func expandHosts(entry string) ([]string, int, error) {
	host, port := splitHostPort(entry)
	if strings.HasSuffix(strings.TrimSpace(entry), ":") && port == 0 {
		return nil, 0, fmt.Errorf("invalid host pattern %q: ending in ':' is not allowed, this character is reserved to provide a port", entry)
	}
	if !strings.Contains(host, "[") {
		return []string{host}, port, nil
	}
	names, err := expandRange(host)
	return names, port, err
}

// maxRangeHosts bounds one entry's expansion: a typo like [1:100000000]
// should fail, not fill memory.
const maxRangeHosts = 100_000

const asciiLetters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

// expandRange expands the first [begin:end(:step)] and recurses for the
// rest, as ansible-core's expand_hostname_range.
func expandRange(name string) ([]string, error) {
	open := strings.IndexByte(name, '[')
	closing := strings.IndexByte(name, ']')
	if open < 0 || closing < open {
		return nil, fmt.Errorf("host %q: unbalanced [ ] in range", name)
	}
	head, spec, tail := name[:open], name[open+1:closing], name[closing+1:]
	bounds := strings.Split(spec, ":")
	if len(bounds) != 2 && len(bounds) != 3 {
		return nil, fmt.Errorf("host %q: host range must be begin:end or begin:end:step", name)
	}
	beg, end, step := bounds[0], bounds[1], 1
	if len(bounds) == 3 {
		n, err := strconv.Atoi(bounds[2])
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("host %q: range step %q must be a positive number", name, bounds[2])
		}
		step = n
	}
	if beg == "" {
		beg = "0"
	}
	if end == "" {
		return nil, fmt.Errorf("host %q: host range must specify end value", name)
	}
	width := 0
	if beg[0] == '0' && len(beg) > 1 {
		if len(beg) != len(end) {
			return nil, fmt.Errorf("host %q: host range must specify equal-length begin and end formats", name)
		}
		width = len(beg)
	}
	var seq []string
	if ib, ie := strings.Index(asciiLetters, beg), strings.Index(asciiLetters, end); len(beg) == 1 && len(end) == 1 && ib >= 0 && ie >= 0 {
		if ib > ie {
			return nil, fmt.Errorf("host %q: host range must have begin <= end", name)
		}
		for i := ib; i <= ie; i += step {
			seq = append(seq, asciiLetters[i:i+1])
		}
	} else {
		b, err1 := strconv.Atoi(beg)
		e, err2 := strconv.Atoi(end)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("host %q: range [%s] is neither numeric nor one letter to another", name, spec)
		}
		if (e-b)/step > maxRangeHosts {
			return nil, fmt.Errorf("host %q: range [%s] is over %d hosts", name, spec, maxRangeHosts)
		}
		for i := b; i <= e; i += step {
			seq = append(seq, fmt.Sprintf("%0*d", width, i))
		}
	}
	var out []string
	for _, s := range seq {
		n := head + s + tail
		if !strings.Contains(n, "[") {
			out = append(out, n)
			continue
		}
		more, err := expandRange(n)
		if err != nil {
			return nil, err
		}
		if out = append(out, more...); len(out) > maxRangeHosts {
			return nil, fmt.Errorf("host %q expands to over %d hosts", name, maxRangeHosts)
		}
	}
	return out, nil
}
