package facts

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
)

// Network reads the interfaces and the default routes with iproute2, as
// Ansible's linux network facts do (the route to a public address names the
// default interface and source address).
var Network = &Fact[Net]{Name: "network", Cmd: `echo @@addr; ip -o addr show
echo @@link; ip -o link show
echo @@route4; ip -4 route get 8.8.8.8
echo @@route6; ip -6 route get 2001:4860:4860::8888`, Parse: ParseNetwork}

// Net is the host's interfaces and default routes.
type Net struct {
	Interfaces map[string]*Interface
	Default4   Route
	Default6   Route
}

// Interface is one network device.
type Interface struct {
	Device  string
	MAC     string
	MTU     int
	Type    string // ether, loopback, ...
	Up      bool
	Promisc bool
	IPv4    []netip.Prefix // address with its prefix length
	Brd4    map[netip.Addr]string
	IPv6    []IP6
}

// IP6 is one IPv6 address.
type IP6 struct {
	Prefix netip.Prefix
	Scope  string
}

// Route is the route the kernel picks to a public address.
type Route struct {
	Interface string
	Gateway   string
	Source    string
}

// ParseNetwork reads the four sections of the Network command.
func ParseNetwork(b []byte) (Net, error) {
	n := Net{Interfaces: map[string]*Interface{}}
	secs := map[string][]string{}
	var cur string
	for _, line := range strings.Split(string(b), "\n") {
		if s, ok := strings.CutPrefix(line, "@@"); ok {
			cur = s
			continue
		}
		if strings.TrimSpace(line) != "" {
			secs[cur] = append(secs[cur], line)
		}
	}
	for _, l := range secs["link"] {
		if err := n.link(l); err != nil {
			return n, err
		}
	}
	for _, l := range secs["addr"] {
		if err := n.addr(l); err != nil {
			return n, err
		}
	}
	n.Default4 = parseRoute(secs["route4"])
	n.Default6 = parseRoute(secs["route6"])
	return n, nil
}

// iface returns the interface named in field 1 of an `ip -o` line
// ("2: eth0@if5:" or "2: eth0"), creating it.
func (n *Net) iface(f []string) (*Interface, error) {
	if len(f) < 2 {
		return nil, fmt.Errorf("network: short line %q", strings.Join(f, " "))
	}
	name := strings.TrimSuffix(f[1], ":")
	name, _, _ = strings.Cut(name, "@")
	i := n.Interfaces[name]
	if i == nil {
		i = &Interface{Device: name, Brd4: map[netip.Addr]string{}}
		n.Interfaces[name] = i
	}
	return i, nil
}

// link reads one `ip -o link show` line.
func (n *Net) link(l string) error {
	f := strings.Fields(strings.ReplaceAll(l, `\`, " "))
	i, err := n.iface(f)
	if err != nil {
		return err
	}
	if len(f) > 2 {
		flags := strings.Split(strings.Trim(f[2], "<>"), ",")
		for _, fl := range flags {
			switch fl {
			case "UP":
				i.Up = true
			case "PROMISC":
				i.Promisc = true
			}
		}
	}
	for k := 3; k+1 < len(f); k++ {
		switch {
		case f[k] == "mtu":
			i.MTU, _ = strconv.Atoi(f[k+1])
		case strings.HasPrefix(f[k], "link/"):
			i.Type = strings.TrimPrefix(f[k], "link/")
			if i.Type != "loopback" && i.Type != "none" {
				i.MAC = f[k+1]
			}
		}
	}
	return nil
}

// addr reads one `ip -o addr show` line.
func (n *Net) addr(l string) error {
	f := strings.Fields(strings.ReplaceAll(l, `\`, " "))
	i, err := n.iface(f)
	if err != nil {
		return err
	}
	if len(f) < 4 {
		return nil
	}
	p, err := netip.ParsePrefix(f[3])
	if err != nil {
		return fmt.Errorf("network: %s address %q: %w", i.Device, f[3], err)
	}
	opt := func(key string) string {
		for k := 4; k+1 < len(f); k++ {
			if f[k] == key {
				return f[k+1]
			}
		}
		return ""
	}
	switch f[2] {
	case "inet":
		i.IPv4 = append(i.IPv4, p)
		i.Brd4[p.Addr()] = opt("brd")
	case "inet6":
		i.IPv6 = append(i.IPv6, IP6{Prefix: p, Scope: opt("scope")})
	}
	return nil
}

// parseRoute reads `ip route get` output: "8.8.8.8 via GW dev IF src ADDR".
func parseRoute(lines []string) Route {
	var r Route
	if len(lines) == 0 {
		return r
	}
	f := strings.Fields(lines[0])
	for k := 0; k+1 < len(f); k++ {
		switch f[k] {
		case "via":
			r.Gateway = f[k+1]
		case "dev":
			r.Interface = f[k+1]
		case "src":
			r.Source = f[k+1]
		}
	}
	return r
}

// Names returns the interface names, sorted.
func (n Net) Names() []string {
	out := make([]string, 0, len(n.Interfaces))
	for k := range n.Interfaces {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
