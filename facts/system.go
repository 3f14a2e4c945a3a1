package facts

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
)

// The base facts: what every play gathers. Files are read over SFTP when
// asked one at a time; Gather reads them all with one process.

func trimmed(b []byte) (string, error) { return strings.TrimSpace(string(b)), nil }

var (
	// Nodename is the kernel's host name (uname -n): what kubeadm and the
	// kubelet name the Node after.
	Nodename = &Fact[string]{Name: "nodename", File: "/proc/sys/kernel/hostname", Parse: trimmed}
	// FQDN is the name the resolver gives the host (hostname -f).
	FQDN = &Fact[string]{Name: "fqdn", Cmd: "hostname -f || hostname || cat /proc/sys/kernel/hostname", Parse: trimmed}
	// Kernel is the kernel release (uname -r).
	Kernel = &Fact[string]{Name: "kernel", File: "/proc/sys/kernel/osrelease", Parse: trimmed}
	// KernelVersion is the kernel's build string (uname -v).
	KernelVersion = &Fact[string]{Name: "kernel_version", File: "/proc/sys/kernel/version", Parse: trimmed}
	// Arch is the machine hardware name (uname -m): x86_64, aarch64.
	Arch = &Fact[string]{Name: "architecture", Cmd: "uname -m", Parse: trimmed}
	// DebianVersion is /etc/debian_version, which Ansible prefers to
	// os-release for Debian's point release (12.8).
	DebianVersion = &Fact[string]{Name: "debian_version", File: "/etc/debian_version", Parse: trimmed}
	// MachineID is systemd's /etc/machine-id.
	MachineID = &Fact[string]{Name: "machine_id", File: "/etc/machine-id", Parse: trimmed}
	// Memory is /proc/meminfo.
	Memory = &Fact[Meminfo]{Name: "meminfo", File: "/proc/meminfo", Parse: ParseMeminfo}
	// CPU is /proc/cpuinfo plus the CPUs this process may run on (nproc).
	CPU = &Fact[CPUInfo]{Name: "cpu", Cmd: "nproc; cat /proc/cpuinfo", Parse: ParseCPU}
	// Cgroup is "v2" on the unified hierarchy, else "v1".
	Cgroup = &Fact[string]{Name: "cgroup", Cmd: "stat -fc %T /sys/fs/cgroup", Parse: func(b []byte) (string, error) {
		if strings.TrimSpace(string(b)) == "cgroup2fs" {
			return "v2", nil
		}
		return "v1", nil
	}}
)

// Meminfo holds /proc/meminfo in kB, by key (MemTotal, SwapFree, ...).
type Meminfo map[string]int64

// MB returns a key in MiB, as Ansible's *_mb facts (integer division).
func (m Meminfo) MB(key string) int64 { return m[key] / 1024 }

// ParseMeminfo reads "Key:   123 kB" lines.
func ParseMeminfo(b []byte) (Meminfo, error) {
	m := Meminfo{}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return m, fmt.Errorf("meminfo %s: %w", k, err)
		}
		m[strings.TrimSpace(k)] = n
	}
	if _, ok := m["MemTotal"]; !ok {
		return m, fmt.Errorf("meminfo: no MemTotal")
	}
	return m, nil
}

// CPUInfo is what Ansible reports of the processors.
type CPUInfo struct {
	// Processor is Ansible's flat list: index, vendor, model name, per
	// logical CPU.
	Processor      []string
	Count          int // sockets (distinct physical id)
	Cores          int // cores per socket
	ThreadsPerCore int
	VCPUs          int // logical CPUs
	Nproc          int // CPUs this process may use (nproc)
}

// ParseCPU reads nproc's line then /proc/cpuinfo, as Ansible's linux
// hardware facts do.
func ParseCPU(b []byte) (CPUInfo, error) {
	var c CPUInfo
	s := string(b)
	first, rest, _ := strings.Cut(s, "\n")
	n, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		return c, fmt.Errorf("nproc %q: %w", first, err)
	}
	c.Nproc = n
	sockets := map[string]bool{}
	var siblings, cores int
	var idx, vendor string
	for _, line := range strings.Split(rest, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "processor":
			idx, vendor = v, ""
			c.VCPUs++
		case "vendor_id", "CPU implementer":
			vendor = v
		case "model name", "Processor", "cpu model":
			c.Processor = append(c.Processor, idx, vendor, v)
		case "physical id":
			sockets[v] = true
		case "siblings":
			siblings, _ = strconv.Atoi(v)
		case "cpu cores":
			cores, _ = strconv.Atoi(v)
		}
	}
	if c.VCPUs == 0 {
		return c, fmt.Errorf("cpuinfo: no processor entries")
	}
	c.Count = max(len(sockets), 1)
	c.Cores = cores
	if c.Cores == 0 {
		c.Cores = c.VCPUs / c.Count
	}
	c.ThreadsPerCore = 1
	if siblings > 0 && c.Cores > 0 {
		c.ThreadsPerCore = max(siblings/c.Cores, 1)
	}
	return c, nil
}

// Mounts is what Ansible's mounts fact lists: the mounts of /proc/mounts
// whose source is a path or a network export (not fstype none), each with
// its statvfs sizes, read with one stat -f for all of them.
var Mounts = &Fact[[]Mount]{Name: "mounts", Cmd: mountsScript, Parse: ParseMounts}

const mountsScript = `m=$(awk '($1 ~ /^[\/\\]/ || $1 ~ /:\//) && $3 != "none"' /proc/mounts)
printf '%s\n@@\n' "$m"
printf '%s\n' "$m" | while read -r d p r; do [ -n "$p" ] && printf '%b\n' "$p"; done | tr '\n' '\0' |
	xargs -0 -r timeout 10 stat -f -c '%S %b %a %s %c %d %n' 2>/dev/null
true`

// Mount is one entry of the mounts fact.
type Mount struct {
	Device, Mount, Fstype, Options string
	Sized                          bool // statvfs answered
	FrSize, Blocks, Bavail, BSize  int64
	Files, Ffree                   int64
}

// ParseMounts reads mountsScript's output: /proc/mounts lines (octal
// escapes undone), "@@", then stat -f's "frsize blocks bavail bsize files
// ffree name" per mount point.
func ParseMounts(b []byte) ([]Mount, error) {
	head, tail, _ := strings.Cut(string(b), "\n@@\n")
	sizes := map[string][]int64{}
	for _, l := range strings.Split(tail, "\n") {
		f := strings.SplitN(l, " ", 7)
		if len(f) < 7 {
			continue
		}
		var n []int64
		for _, s := range f[:6] {
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				break
			}
			n = append(n, v)
		}
		if len(n) == 6 {
			sizes[f[6]] = n
		}
	}
	var out []Mount
	for _, l := range strings.Split(head, "\n") {
		f := strings.Fields(l)
		if len(f) < 4 {
			continue
		}
		m := Mount{Device: Unoctal(f[0]), Mount: Unoctal(f[1]), Fstype: f[2], Options: f[3]}
		if n, ok := sizes[m.Mount]; ok {
			m.Sized = true
			m.FrSize, m.Blocks, m.Bavail, m.BSize, m.Files, m.Ffree = n[0], n[1], n[2], n[3], n[4], n[5]
		}
		out = append(out, m)
	}
	return out, nil
}

// Unoctal undoes the kernel's \ooo escapes of /proc/mounts and
// /proc/self/mountinfo fields (a space is \040).
func Unoctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// AnsibleMounts is the mounts fact as Ansible's setup returns it.
func AnsibleMounts(ms []Mount) []any {
	out := make([]any, 0, len(ms))
	for _, m := range ms {
		e := map[string]any{"mount": m.Mount, "device": m.Device, "fstype": m.Fstype, "options": m.Options, "uuid": "N/A"}
		if m.Sized {
			e["size_total"], e["size_available"] = m.FrSize*m.Blocks, m.FrSize*m.Bavail
			e["block_size"], e["block_total"], e["block_available"], e["block_used"] = m.BSize, m.Blocks, m.Bavail, m.Blocks-m.Bavail
			e["inode_total"], e["inode_available"], e["inode_used"] = m.Files, m.Ffree, m.Files-m.Ffree
		}
		out = append(out, e)
	}
	return out
}
