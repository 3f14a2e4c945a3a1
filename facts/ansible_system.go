package facts

import (
	"context"
	"regexp"
	"strconv"
	"strings"
)

// addSystem sets the facts of ansible-core's system, hardware and network
// collectors beyond the basics (lsb, selinux, dns, cmdline, DMI, devices,
// ...), from SysFiles, Probe, Devices and LVM. A fact whose command could
// not be read (a recording made before it existed) is left out, as Ansible
// leaves out what it cannot measure.
func addSystem(ctx context.Context, h Host, af map[string]any) error {
	if f, err := Get(ctx, h, SysFiles); err == nil {
		addFiles(af, f)
		p, err := Get(ctx, h, Probe)
		arch, aerr := Get(ctx, h, Arch)
		if err == nil && aerr == nil {
			addProbe(af, f, p, arch)
			if o, err := Get(ctx, h, OS); err == nil {
				addDistFiles(af, f, p, o)
			}
		}
	}
	if d, err := Get(ctx, h, Devices); err == nil {
		devices, links := AnsibleDevices(d)
		af["devices"] = devices
		if links != nil {
			af["device_links"] = links
		}
	}
	if l, err := Get(ctx, h, LVM); err == nil {
		af["lvm"] = l.Ansible()
	}
	return nil
}

// addFiles sets the facts read from files alone.
func addFiles(af map[string]any, f FileSet) {
	if data, ok := f.Get(cmdlineFile); ok {
		af["cmdline"], af["proc_cmdline"] = ParseCmdline(data, false), ParseCmdline(data, true)
	}
	if l, ok := f.Get(loadavgFile); ok {
		if v := strings.Fields(l); len(v) >= 3 {
			m := map[string]any{}
			for i, k := range []string{"1m", "5m", "15m"} {
				x, err := strconv.ParseFloat(v[i], 64)
				if err != nil {
					m = nil
					break
				}
				m[k] = x
			}
			if m != nil {
				af["loadavg"] = m
			}
		}
	}
	if u, ok := f.Get(uptimeFile); ok {
		first, _, _ := strings.Cut(u, " ")
		if x, err := strconv.ParseFloat(first, 64); err == nil {
			af["uptime_seconds"] = int(x)
		}
	}
	fips, _ := f.Get(fipsFile)
	af["fips"] = fips == "1"
	af["dns"] = ParseResolvConf(f.Files[resolvFile])
	af["iscsi_iqn"], af["hostnqn"] = "", ""
	for _, l := range strings.Split(f.Files[iscsiFile], "\n") {
		if v, ok := strings.CutPrefix(l, "InitiatorName="); ok {
			af["iscsi_iqn"] = v
			break
		}
	}
	for _, l := range strings.Split(f.Files[nvmeFile], "\n") {
		if strings.HasPrefix(l, "nqn.") {
			af["hostnqn"] = l
			break
		}
	}
	wwn := []any{}
	for _, p := range f.Order {
		if strings.HasPrefix(p, "/sys/class/fc_host/") && strings.HasSuffix(p, "/port_name") {
			for _, l := range strings.Split(f.Files[p], "\n") {
				if l = strings.TrimRight(l, " \t\r"); len(l) >= 2 {
					wwn = append(wwn, l[2:])
				} else {
					wwn = append(wwn, "")
				}
			}
		}
	}
	af["fibre_channel_wwn"] = wwn
	for k, v := range SSHHostKeys(f) {
		af[k] = v
	}
	af["selinux"], af["selinux_python_present"] = selinuxFacts(f), true
	addIDs(af, f.Files[statusFile])
}

// addIDs sets user.py's real and effective ids from /proc/self/status's
// "Uid: real effective saved fs" and "Gid:" lines. Ansible sets
// effective_group_id from os.getgid(), the real group: kept.
func addIDs(af map[string]any, status string) {
	ids := map[string][]int{}
	for _, l := range strings.Split(status, "\n") {
		k, v, _ := strings.Cut(l, ":")
		if k != "Uid" && k != "Gid" {
			continue
		}
		for _, f := range strings.Fields(v) {
			n, err := strconv.Atoi(f)
			if err != nil {
				break
			}
			ids[k] = append(ids[k], n)
		}
	}
	if len(ids["Uid"]) < 2 || len(ids["Gid"]) < 1 {
		return
	}
	af["real_user_id"], af["effective_user_id"] = ids["Uid"][0], ids["Uid"][1]
	af["real_group_id"], af["effective_group_id"] = ids["Gid"][0], ids["Gid"][0]
}

// selinuxFacts is ansible_selinux as a Debian or Ubuntu host with
// python3-selinux (what Debian's ansible package pulls in) reports it:
// "disabled" unless selinuxfs is mounted (libselinux's
// is_selinux_enabled), else the policy version, the mode in force and the
// configured mode and type. Without the Python bindings Ansible can only say
// "Missing selinux Python library"; gpuctl needs no bindings to read the
// same files, so it reports what they say.
func selinuxFacts(f FileSet) map[string]any {
	enforce, ok := f.Get(seEnforce)
	if !ok {
		return map[string]any{"status": "disabled"}
	}
	modes := map[string]string{"1": "enforcing", "0": "permissive", "enforcing": "enforcing", "permissive": "permissive", "disabled": "disabled"}
	s := map[string]any{"status": "enabled", "policyvers": "unknown", "config_mode": "unknown", "mode": "unknown", "type": "unknown"}
	if v, err := strconv.Atoi(f.Files[sePolicyvers]); err == nil {
		s["policyvers"] = v
	}
	if m, ok := modes[enforce]; ok {
		s["mode"] = m
	}
	for _, l := range strings.Split(f.Files[seConfig], "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(l), "=")
		v = strings.TrimSpace(v)
		switch {
		case !ok:
		case k == "SELINUX":
			if m, ok := modes[strings.ToLower(v)]; ok {
				s["config_mode"] = m
			}
		case k == "SELINUXTYPE" && v != "":
			s["type"] = v
		}
	}
	return s
}

// SSHHostKeys is ssh_pub_keys.py: the host's public keys from the first of
// /etc/ssh, /etc/openssh and /etc holding them, each with its key type. Its
// odd stop rule is kept: a later directory is read only until an algorithm
// found earlier comes up again.
func SSHHostKeys(f FileSet) map[string]any {
	out := map[string]any{}
	for _, dir := range sshKeyDirs {
		for _, a := range sshKeyAlgos {
			name := "ssh_host_key_" + a + "_public"
			if _, ok := out[name]; ok {
				return out
			}
			data, ok := f.Get(dir + "/ssh_host_" + a + "_key.pub")
			if fl := strings.Fields(data); ok && len(fl) >= 2 {
				out[name], out[name+"_keytype"] = fl[1], fl[0]
			}
		}
	}
	return out
}

// ParseResolvConf is dns.py: nameservers, domain, search, sortlist and
// options (an option without a value is true).
func ParseResolvConf(s string) map[string]any {
	dns := map[string]any{}
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";") || strings.TrimSpace(line) == "" {
			continue
		}
		t := strings.Fields(line)
		switch t[0] {
		case "nameserver":
			ns, _ := dns["nameservers"].([]any)
			if ns == nil {
				ns = []any{}
			}
			dns["nameservers"] = append(ns, strList(t[1:])...)
		case "domain":
			if len(t) > 1 {
				dns["domain"] = t[1]
			}
		case "search", "sortlist":
			dns[t[0]] = strList(t[1:])
		case "options":
			o := map[string]any{}
			for _, opt := range t[1:] {
				if k, v, ok := strings.Cut(opt, ":"); ok && v != "" {
					o[k] = v
				} else {
					o[k] = true
				}
			}
			dns["options"] = o
		}
	}
	return dns
}

// ParseCmdline is cmdline.py: the kernel command line split as Python's
// shlex.split(posix=False) does (a quote opens only at a word's start and
// stays in the word), each word key=value or a bare key (true). With multi,
// a key seen again gathers its values in a list (proc_cmdline); without,
// the last value wins (cmdline). A quote never closed makes shlex fail, and
// Ansible then reports an empty dict.
func ParseCmdline(s string, multi bool) map[string]any {
	out := map[string]any{}
	words, ok := shlexNonPosix(s)
	if !ok {
		return out
	}
	for _, w := range words {
		k, v, hasValue := strings.Cut(w, "=")
		switch old, seen := out[k]; {
		case !hasValue:
			out[k] = true
		case multi && seen && isList(old):
			out[k] = append(old.([]any), v)
		case multi && seen:
			out[k] = []any{old, v}
		default:
			out[k] = v
		}
	}
	return out
}

func isList(v any) bool { _, ok := v.([]any); return ok }

// shlexNonPosix splits at whitespace; a word starting with a quote runs to
// the matching quote, quotes kept, and ends there.
func shlexNonPosix(s string) ([]string, bool) {
	var words []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '"' || c == '\'':
			end := strings.IndexByte(s[i+1:], c)
			if end < 0 {
				return nil, false
			}
			words = append(words, s[i:i+end+2])
			i += end + 2
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\n\r", rune(s[j])) {
				j++
			}
			words = append(words, s[i:j])
			i = j
		}
	}
	return words, true
}

// formFactors is the SMBIOS chassis types, as hardware/linux.py names them.
var formFactors = []string{"Unknown", "Other", "Unknown", "Desktop",
	"Low Profile Desktop", "Pizza Box", "Mini Tower", "Tower",
	"Portable", "Laptop", "Notebook", "Hand Held", "Docking Station",
	"All In One", "Sub Notebook", "Space-saving", "Lunch Box",
	"Main Server Chassis", "Expansion Chassis", "Sub Chassis",
	"Bus Expansion Chassis", "Peripheral Chassis", "RAID Chassis",
	"Rack Mount Chassis", "Sealed-case PC", "Multi-system",
	"CompactPCI", "AdvancedTCA", "Blade", "Blade Enclosure",
	"Tablet", "Convertible", "Detachable", "IoT Gateway",
	"Embedded PC", "Mini PC", "Stick PC"}

// addProbe sets the facts that need a command (and DMI, which falls back to
// dmidecode where the kernel has no DMI directory). userspace_bits is
// Python's platform.architecture() of the interpreter; getconf LONG_BIT is
// the same for the userspace without one.
func addProbe(af map[string]any, f FileSet, p Sections, machine string) {
	af["lsb"] = LSB(p, f)
	af["system_capabilities"], af["system_capabilities_enforced"] = "N/A", "N/A"
	if p.Has("capsh") {
		caps, enforced := []any{}, "NA"
		for _, l := range p["capsh"] {
			if !strings.HasPrefix(l, "Current:") {
				continue
			}
			if strings.TrimSpace(strings.Split(l, ":")[1]) == "=ep" {
				enforced = "False"
			} else {
				enforced, caps = "True", []any{}
				for _, c := range strings.Split(strings.Split(l, "=")[1], ",") {
					caps = append(caps, strings.TrimSpace(c))
				}
			}
		}
		af["system_capabilities"], af["system_capabilities_enforced"] = caps, enforced
	}
	af["is_chroot"] = isChroot(p)
	exists := map[string]bool{}
	for _, e := range p["exists"] {
		exists[e] = true
	}
	af["apparmor"] = map[string]any{"status": "disabled"}
	if exists["/sys/kernel/security/apparmor"] {
		af["apparmor"] = map[string]any{"status": "enabled"}
	}
	if bits := strings.TrimSpace(p.Text("long_bit")); bits != "" {
		af["userspace_bits"] = bits
		// platform.py sets it on x86_64 only (and Solaris' i86pc).
		if machine == "x86_64" {
			switch bits {
			case "64":
				af["userspace_architecture"] = "x86_64"
			case "32":
				af["userspace_architecture"] = "i386"
			}
		}
	}
	for _, d := range dmiFiles {
		v := "NA"
		if exists[dmiDir+"product_name"] {
			if s, ok := f.Get(dmiDir + d[1]); ok {
				v = s
				if d[0] == "form_factor" {
					v = formFactor(s)
				}
			}
		} else if lines, ok := p["dmidecode "+d[2]]; ok {
			var b strings.Builder
			for _, l := range lines {
				if !strings.HasPrefix(l, "#") {
					b.WriteString(l)
				}
			}
			v = b.String()
		}
		af[d[0]] = v
	}
}

// formFactor names an SMBIOS chassis type, Python's list indexing
// included: a negative number counts from the end.
func formFactor(s string) string {
	n, err := strconv.Atoi(s)
	if n < 0 {
		n += len(formFactors)
	}
	if err != nil || n < 0 || n >= len(formFactors) {
		return "unknown (" + s + ")"
	}
	return formFactors[n]
}

// isChroot is chroot.py: debian_chroot set, else / against PID 1's root
// (device and inode), else, where /proc/1/root cannot be read (not root),
// /'s inode against the root inode of its file system type.
func isChroot(p Sections) bool {
	if len(p["chroot"]) > 0 && p["chroot"][0] == "debian_chroot" {
		return true
	}
	var st []string
	for _, l := range p["chroot"] {
		if l != "debian_chroot" && l != "" {
			st = append(st, l)
		}
	}
	if len(st) >= 2 {
		return st[0] != st[1]
	}
	ino := ""
	if len(st) == 1 {
		_, ino, _ = strings.Cut(st[0], " ")
	}
	root := "2"
	switch fs := p.Text("rootfs"); {
	case strings.Contains(fs, "btrfs"):
		root = "256"
	case strings.Contains(fs, "xfs"):
		root = "128"
	}
	return ino != root
}

// LSB is lsb.py: lsb_release -a where it runs, else /etc/lsb-release;
// major_release from release; quotes and backslashes trimmed.
func LSB(p Sections, f FileSet) map[string]any {
	lsb := map[string]string{}
	for _, l := range p["lsb_release"] {
		_, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch {
		case strings.Contains(l, "LSB Version:"):
			lsb["release"] = v
		case strings.Contains(l, "Distributor ID:"):
			lsb["id"] = v
		case strings.Contains(l, "Description:"):
			lsb["description"] = v
		case strings.Contains(l, "Release:"):
			lsb["release"] = v
		case strings.Contains(l, "Codename:"):
			lsb["codename"] = v
		}
	}
	if len(lsb) == 0 {
		for _, l := range strings.Split(f.Files[lsbFile], "\n") {
			_, v, ok := strings.Cut(l, "=")
			if !ok {
				continue
			}
			v = strings.TrimSpace(v)
			for _, k := range [][2]string{{"DISTRIB_ID", "id"}, {"DISTRIB_RELEASE", "release"}, {"DISTRIB_DESCRIPTION", "description"}, {"DISTRIB_CODENAME", "codename"}} {
				if strings.Contains(l, k[0]) {
					lsb[k[1]] = v
					break
				}
			}
		}
	}
	if r, ok := lsb["release"]; ok {
		lsb["major_release"], _, _ = strings.Cut(r, ".")
	}
	out := map[string]any{}
	for k, v := range lsb {
		out[k] = strings.Trim(v, `'"\`)
	}
	return out
}

var (
	clearNameRe = regexp.MustCompile(`NAME="(.*)"`)
)

// addDistFiles sets distribution_file_path, _variety and _parsed as
// distribution.py's process_dist_files finds them: the first release file
// of OSDIST_LIST that exists (not empty, unless allowed) and that its
// variety's parser accepts.
func addDistFiles(af map[string]any, f FileSet, p Sections, o OSRelease) {
	exists := map[string]bool{}
	for _, e := range p["exists"] {
		exists[e] = true
	}
	for _, d := range distFiles {
		if d.allowEmpty {
			if exists[d.path] {
				af["distribution_file_path"], af["distribution_file_variety"] = d.path, d.name
				return
			}
			continue
		}
		data, ok := f.Get(d.path)
		if !ok {
			continue
		}
		if distFileParses(d.name, d.path, strings.Trim(data, `'"\`), o) {
			af["distribution_file_path"], af["distribution_file_variety"] = d.path, d.name
			af["distribution_file_parsed"] = true
			return
		}
	}
}

// distFileParses is whether distribution.py's parser of a variety accepts
// a release file: only its accepting or not matters here, the distribution
// facts themselves come from os-release.
func distFileParses(name, path, data string, o OSRelease) bool {
	has := func(s ...string) bool {
		for _, x := range s {
			if strings.Contains(data, x) {
				return true
			}
		}
		return false
	}
	switch name {
	case "Altlinux", "OracleLinux", "RedHat", "SMGL", "Alpine", "NA":
		return true
	case "Archlinux":
		return has("Arch Linux")
	case "Slackware":
		return has("Slackware")
	case "CentOS":
		return has("CentOS Stream", "TencentOS Server")
	case "OpenWrt":
		return has("OpenWrt")
	case "Amazon":
		return has("Amazon")
	case "SUSE":
		return strings.Contains(strings.ToLower(data), "suse")
	case "Mandriva":
		return has("Mandriva")
	case "Debian":
		return has("Debian", "Raspbian", "Ubuntu", "SteamOS", "Devuan", "Cumulus", "Mint", "UOS", "Uos", "uos", "Deepin", "deepin") ||
			((path == "/etc/lsb-release" || path == "/etc/os-release") && has("Kali", "Parrot"))
	case "ClearLinux":
		m := clearNameRe.FindStringSubmatch(data)
		return m == nil || strings.Contains(m[1], "Clear Linux")
	case "Coreos":
		return strings.EqualFold(o.ID, "coreos")
	case "Flatcar":
		return strings.EqualFold(o.ID, "flatcar")
	}
	return false // Gentoo has no parser: Ansible passes over its file
}
