package template

import (
	"fmt"
	"math/big"
	"net/netip"
	"strconv"
	"strings"
)

// parseIP reads an address with or without a prefix length.
func parseIP(s string) (netip.Prefix, bool, bool) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p, true, true
	}
	s = strings.Trim(s, "[]")
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a, a.BitLen()), false, true
	}
	return netip.Prefix{}, false, false
}

// ipQuery is the basic part of ansible.utils.ipaddr: no query validates,
// "address" and "network" pick a part, 4 and 6 select a family. Invalid
// input yields false, as Ansible's does; a list is filtered item by item.
func ipQuery(family int) func(in any, args []any, kw map[string]any) (any, error) {
	return func(in any, args []any, kw map[string]any) (any, error) {
		query := ""
		if len(args) > 0 {
			query = toString(args[0])
		}
		if l, ok := in.([]any); ok {
			out := []any{}
			for _, x := range l {
				if v := ipOne(toString(x), query, family); v != false {
					out = append(out, v)
				}
			}
			return out, nil
		}
		return ipOne(toString(in), query, family), nil
	}
}

func ipOne(s, query string, family int) any {
	p, hasPrefix, ok := parseIP(s)
	if !ok {
		return false
	}
	if family == 4 && !p.Addr().Is4() || family == 6 && !p.Addr().Is6() {
		return false
	}
	switch query {
	case "":
		return s
	case "address":
		return p.Addr().String()
	case "network":
		return p.Masked().Addr().String()
	case "prefix":
		return p.Bits()
	case "netmask":
		if !p.Addr().Is4() {
			return false
		}
		m := uint32(0xffffffff) << (32 - p.Bits())
		return fmt.Sprintf("%d.%d.%d.%d", m>>24, m>>16&255, m>>8&255, m&255)
	case "host":
		if !hasPrefix {
			return fmt.Sprintf("%s/%d", p.Addr(), p.Bits())
		}
		return p.String()
	case "subnet", "net", "cidr":
		return p.Masked().String()
	case "ipv4", "4":
		return ipOne(s, "", 4)
	case "ipv6", "6":
		return ipOne(s, "", 6)
	}
	if n, err := strconv.Atoi(query); err == nil {
		// the nth address of a network (from its end when negative), with
		// the network's prefix; a single address is itself
		if p.Bits() == p.Addr().BitLen() {
			if hasPrefix {
				return p.String()
			}
			return p.Addr().String()
		}
		if a, ok := nthAddr(p.Masked(), n); ok {
			return fmt.Sprintf("%s/%d", a, p.Bits())
		}
		return false
	}
	if q, _, ok := parseIP(query); ok {
		// a network as the query: the value when it lies inside it (an
		// address, or a network that is a subnet of it), else None, as
		// ansible.utils' cidr_lookup answers
		if q.Addr().Is4() == p.Addr().Is4() && q.Masked().Contains(p.Addr()) && p.Bits() >= q.Bits() {
			return s
		}
		return nil
	}
	return fmt.Errorf("ipaddr query %q is not supported (supported: address, network, prefix, netmask, host, subnet)", query)
}

// nthAddr is the network's nth address, counting from its end when n < 0.
func nthAddr(p netip.Prefix, n int) (netip.Addr, bool) {
	size := new(big.Int).Lsh(big.NewInt(1), uint(p.Addr().BitLen()-p.Bits()))
	idx := big.NewInt(int64(n))
	if n < 0 {
		idx.Add(idx, size)
	}
	if idx.Sign() < 0 || idx.Cmp(size) >= 0 {
		return netip.Addr{}, false
	}
	base := new(big.Int).SetBytes(p.Addr().AsSlice())
	b := base.Add(base, idx).Bytes()
	out := make([]byte, p.Addr().BitLen()/8)
	copy(out[len(out)-len(b):], b)
	a, ok := netip.AddrFromSlice(out)
	return a, ok
}

func ipwrap(in any, args []any, kw map[string]any) (any, error) {
	wrap := func(s string) any {
		if p, hasPrefix, ok := parseIP(s); ok && p.Addr().Is6() && !strings.HasPrefix(s, "[") {
			if hasPrefix {
				return "[" + p.Addr().String() + "]/" + fmt.Sprint(p.Bits())
			}
			return "[" + s + "]"
		}
		return s
	}
	if l, ok := in.([]any); ok {
		out := make([]any, len(l))
		for i, x := range l {
			out[i] = wrap(toString(x))
		}
		return out, nil
	}
	return wrap(toString(in)), nil
}
