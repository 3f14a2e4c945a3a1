package facts

import (
	"context"
	"net/netip"
	"strconv"
	"strings"
)

// Base lists the facts every play gathers (gather_facts), in one process.
var Base = []Def{OS, DebianVersion, Nodename, FQDN, Kernel, KernelVersion, Arch, MachineID, Memory, CPU, Cgroup,
	User, Env, Clock, Virt, Init, PkgTools, Network, Local, Python, Mounts, SysFiles, Probe, Devices, LVM}

// AnsibleVars maps the base facts to the names Ansible content reads: each
// un-prefixed key in the ansible_facts dict, and the same value as an
// ansible_<key> variable. Read them after Gather (they come from the cache);
// a fact that could not be read is left out, as Ansible leaves out what it
// cannot measure.
func AnsibleVars(ctx context.Context, h Host) (map[string]any, error) {
	af := map[string]any{"system": "Linux"}
	for _, add := range []func(context.Context, Host, map[string]any) error{
		addOS, addHost, addHardware, addUser, addNetwork, addPlatform, addPython, addSystem,
	} {
		if err := add(ctx, h, af); err != nil {
			return nil, err
		}
	}
	af["gather_subset"], af["module_setup"] = []any{"all"}, true
	return Prefixed(af), nil
}

// metaFacts are the setup module's own keys of ansible_facts: not facts of
// the host, so Ansible sets them as plain variables (module_setup), not
// ansible_ ones.
var metaFacts = map[string]bool{"gather_subset": true, "module_setup": true}

// Prefixed returns ansible_<key> for every key of af (the plain key for
// gather_subset and module_setup), and af itself as ansible_facts.
func Prefixed(af map[string]any) map[string]any {
	out := make(map[string]any, len(af)+1)
	for k, v := range af {
		if metaFacts[k] {
			out[k] = v
			continue
		}
		out["ansible_"+k] = v
	}
	out["ansible_facts"] = af
	return out
}

func addOS(ctx context.Context, h Host, af map[string]any) error {
	o, err := Get(ctx, h, OS)
	if err != nil {
		return err
	}
	version := o.VersionID
	if o.ID == "debian" {
		// Ansible reports Debian's point release from /etc/debian_version.
		if dv, err := Get(ctx, h, DebianVersion); err == nil && dv != "" && dv[0] >= '0' && dv[0] <= '9' {
			version = dv
		}
	}
	major, minor, _ := strings.Cut(version, ".")
	af["distribution"] = o.Distribution()
	af["distribution_version"] = version
	af["distribution_major_version"] = major
	if minor != "" {
		af["distribution_minor_version"] = minor
	}
	af["distribution_release"] = o.Codename
	af["os_family"] = o.Family()
	// gpuctl's own names, kept for playbooks written against them.
	af["os_id"], af["os_pretty_name"] = o.ID, o.PrettyName
	tools, err := Get(ctx, h, PkgTools)
	if err != nil {
		return err
	}
	af["pkg_mgr"] = PkgMgr(o, tools)
	return nil
}

func addHost(ctx context.Context, h Host, af map[string]any) error {
	node, err := Get(ctx, h, Nodename)
	if err != nil {
		return err
	}
	fqdn, err := Get(ctx, h, FQDN)
	if err != nil {
		return err
	}
	short, _, _ := strings.Cut(node, ".")
	_, domain, _ := strings.Cut(fqdn, ".")
	af["nodename"], af["hostname"], af["fqdn"], af["domain"] = node, short, fqdn, domain
	for name, f := range map[string]*Fact[string]{"kernel": Kernel, "kernel_version": KernelVersion, "architecture": Arch, "machine_id": MachineID, "cgroup_version": Cgroup} {
		v, err := Get(ctx, h, f)
		if err != nil {
			return err
		}
		af[name] = v
	}
	af["machine"] = af["architecture"]
	return nil
}

func addHardware(ctx context.Context, h Host, af map[string]any) error {
	m, err := Get(ctx, h, Memory)
	if err != nil {
		return err
	}
	af["memtotal_mb"], af["memfree_mb"] = int(m.MB("MemTotal")), int(m.MB("MemFree"))
	af["swaptotal_mb"], af["swapfree_mb"] = int(m.MB("SwapTotal")), int(m.MB("SwapFree"))
	nocache := m.MB("MemFree") + m.MB("Buffers") + m.MB("Cached")
	af["memory_mb"] = map[string]any{
		"real":    map[string]any{"total": int(m.MB("MemTotal")), "free": int(m.MB("MemFree")), "used": int(m.MB("MemTotal") - m.MB("MemFree"))},
		"nocache": map[string]any{"free": int(nocache), "used": int(m.MB("MemTotal") - nocache)},
		"swap":    map[string]any{"total": int(m.MB("SwapTotal")), "free": int(m.MB("SwapFree")), "used": int(m.MB("SwapTotal") - m.MB("SwapFree")), "cached": int(m.MB("SwapCached"))},
	}
	c, err := Get(ctx, h, CPU)
	if err != nil {
		return err
	}
	proc := make([]any, len(c.Processor))
	for i, p := range c.Processor {
		proc[i] = p
	}
	af["processor"], af["processor_count"], af["processor_cores"] = proc, c.Count, c.Cores
	af["processor_threads_per_core"], af["processor_vcpus"], af["processor_nproc"] = c.ThreadsPerCore, c.VCPUs, c.Nproc
	// Left out when it cannot be read (a recording made before it existed),
	// as Ansible leaves out what it cannot measure.
	if ms, err := Get(ctx, h, Mounts); err == nil {
		af["mounts"] = AnsibleMounts(ms)
	}
	return nil
}

func addUser(ctx context.Context, h Host, af map[string]any) error {
	u, err := Get(ctx, h, User)
	if err != nil {
		return err
	}
	af["user_id"], af["user_uid"], af["user_gid"] = u.Name, u.UID, u.GID
	af["user_dir"], af["user_shell"], af["user_gecos"] = u.Dir, u.Shell, u.Gecos
	env, err := Get(ctx, h, Env)
	if err != nil {
		return err
	}
	e := make(map[string]any, len(env))
	for k, v := range env {
		e[k] = v
	}
	af["env"] = e
	if u.Dir == "" {
		af["user_dir"] = env["HOME"]
	}
	return nil
}

func addPlatform(ctx context.Context, h Host, af map[string]any) error {
	v, err := Get(ctx, h, Virt)
	if err != nil {
		return err
	}
	af["virtualization_type"], af["virtualization_role"] = v.Type(), v.Role()
	af["virtualization_tech_guest"], af["virtualization_tech_host"] = v.Guests(), []any{}
	init, err := Get(ctx, h, Init)
	if err != nil {
		return err
	}
	af["service_mgr"] = init
	t, err := Get(ctx, h, Clock)
	if err != nil {
		return err
	}
	af["date_time"] = DateTime(t)
	local, err := Get(ctx, h, Local)
	if err != nil {
		return err
	}
	af["local"] = local
	return nil
}

// addPython sets ansible_python and ansible_python_version (the platform
// collector's) when the host has a Python; without one Ansible gathers no
// facts at all, so there is no value of its to copy.
func addPython(ctx context.Context, h Host, af map[string]any) error {
	p, err := Get(ctx, h, Python)
	if err != nil {
		return err
	}
	if p.Found() {
		af["python"], af["python_version"] = p.ansibleFacts(), p.Version
	}
	return nil
}

func addNetwork(ctx context.Context, h Host, af map[string]any) error {
	n, err := Get(ctx, h, Network)
	if err != nil {
		return err
	}
	var all4, all6, names []any
	for _, name := range n.Names() {
		i := n.Interfaces[name]
		names = append(names, name)
		af[strings.ReplaceAll(name, "-", "_")] = ifaceFacts(i)
		for _, p := range i.IPv4 {
			if !p.Addr().IsLoopback() {
				all4 = append(all4, p.Addr().String())
			}
		}
		for _, a := range i.IPv6 {
			if a.Scope != "host" {
				all6 = append(all6, a.Prefix.Addr().String())
			}
		}
	}
	af["interfaces"], af["all_ipv4_addresses"], af["all_ipv6_addresses"] = orEmpty(names), orEmpty(all4), orEmpty(all6)
	af["default_ipv4"] = defaultRoute(n, n.Default4, false)
	af["default_ipv6"] = defaultRoute(n, n.Default6, true)
	return nil
}

func orEmpty(l []any) []any {
	if l == nil {
		return []any{}
	}
	return l
}

// ipv4 is Ansible's dict of one IPv4 address.
func ipv4(p netip.Prefix, brd string) map[string]any {
	return map[string]any{
		"address": p.Addr().String(), "broadcast": brd, "netmask": netmask(p.Bits()),
		"network": p.Masked().Addr().String(), "prefix": strconv.Itoa(p.Bits()),
	}
}

func netmask(bits int) string {
	m := uint32(0xffffffff) << (32 - bits)
	if bits == 0 {
		m = 0
	}
	return netip.AddrFrom4([4]byte{byte(m >> 24), byte(m >> 16), byte(m >> 8), byte(m)}).String()
}

func ifaceFacts(i *Interface) map[string]any {
	m := map[string]any{"device": i.Device, "active": i.Up, "mtu": i.MTU, "promisc": i.Promisc, "type": i.Type}
	if i.Type == "loopback" {
		m["type"] = "loopback"
	}
	if i.MAC != "" {
		m["macaddress"] = i.MAC
	}
	if len(i.IPv4) > 0 {
		m["ipv4"] = ipv4(i.IPv4[0], i.Brd4[i.IPv4[0].Addr()])
		var sec []any
		for _, p := range i.IPv4[1:] {
			sec = append(sec, ipv4(p, i.Brd4[p.Addr()]))
		}
		if sec != nil {
			m["ipv4_secondaries"] = sec
		}
	}
	if len(i.IPv6) > 0 {
		var l []any
		for _, a := range i.IPv6 {
			l = append(l, map[string]any{"address": a.Prefix.Addr().String(), "prefix": strconv.Itoa(a.Prefix.Bits()), "scope": a.Scope})
		}
		m["ipv6"] = l
	}
	return m
}

// defaultRoute is ansible_default_ipv4/6: the address facts of the interface
// the default route leaves by, with the gateway; empty without a route.
func defaultRoute(n Net, r Route, v6 bool) map[string]any {
	i := n.Interfaces[r.Interface]
	if i == nil {
		return map[string]any{}
	}
	m := map[string]any{"interface": i.Device, "gateway": r.Gateway, "mtu": i.MTU, "type": i.Type}
	if i.MAC != "" {
		m["macaddress"] = i.MAC
	}
	if v6 {
		for _, a := range i.IPv6 {
			if a.Prefix.Addr().String() == r.Source || (r.Source == "" && a.Scope == "global") {
				m["address"], m["prefix"], m["scope"] = a.Prefix.Addr().String(), strconv.Itoa(a.Prefix.Bits()), a.Scope
				break
			}
		}
		return m
	}
	m["alias"] = i.Device
	for _, p := range i.IPv4 {
		if p.Addr().String() == r.Source || r.Source == "" {
			for k, v := range ipv4(p, i.Brd4[p.Addr()]) {
				m[k] = v
			}
			break
		}
	}
	return m
}
