package facts

import (
	"strings"
)

// SysFiles are the small files ansible-core's system, hardware and network
// collectors read (DMI, /proc/cmdline, resolv.conf, host keys, ...), read by
// one grep rather than a cat or an SFTP round trip each: grep -s skips the
// missing and the unreadable, as get_file_content gives None for them.
var SysFiles = &Fact[FileSet]{Name: "sysfiles", Cmd: "grep -asH '' " + strings.Join(sysFilePaths(), " ") + " </dev/null; true",
	Parse: ParseFileSet}

// dmiDir is where the kernel exports the SMBIOS tables.
const dmiDir = "/sys/devices/virtual/dmi/id/"

// dmiFiles maps each DMI fact to its file under dmiDir (hardware/linux.py's
// DMI_DICT), and dmidecodeKeys to the dmidecode -s keyword used where the
// kernel has no DMI directory.
var dmiFiles = [][3]string{
	{"bios_date", "bios_date", "bios-release-date"},
	{"bios_vendor", "bios_vendor", "bios-vendor"},
	{"bios_version", "bios_version", "bios-version"},
	{"board_asset_tag", "board_asset_tag", "baseboard-asset-tag"},
	{"board_name", "board_name", "baseboard-product-name"},
	{"board_serial", "board_serial", "baseboard-serial-number"},
	{"board_vendor", "board_vendor", "baseboard-manufacturer"},
	{"board_version", "board_version", "baseboard-version"},
	{"chassis_asset_tag", "chassis_asset_tag", "chassis-asset-tag"},
	{"chassis_serial", "chassis_serial", "chassis-serial-number"},
	{"chassis_vendor", "chassis_vendor", "chassis-manufacturer"},
	{"chassis_version", "chassis_version", "chassis-version"},
	{"form_factor", "chassis_type", "chassis-type"},
	{"product_name", "product_name", "system-product-name"},
	{"product_serial", "product_serial", "system-serial-number"},
	{"product_uuid", "product_uuid", "system-uuid"},
	{"product_version", "product_version", "system-version"},
	{"system_vendor", "sys_vendor", "system-manufacturer"},
}

// sshKeyDirs and sshKeyAlgos are ssh_pub_keys.py's search order.
var (
	sshKeyDirs  = []string{"/etc/ssh", "/etc/openssh", "/etc"}
	sshKeyAlgos = []string{"dsa", "rsa", "ecdsa", "ed25519"}
)

// distFiles is distribution.py's OSDIST_LIST: the release files tried in
// order for distribution_file_*.
var distFiles = []struct {
	path, name string
	allowEmpty bool
}{
	{"/etc/altlinux-release", "Altlinux", false}, {"/etc/oracle-release", "OracleLinux", false},
	{"/etc/slackware-version", "Slackware", false}, {"/etc/centos-release", "CentOS", false},
	{"/etc/redhat-release", "RedHat", false}, {"/etc/vmware-release", "VMwareESX", true},
	{"/etc/openwrt_release", "OpenWrt", false}, {"/etc/os-release", "Amazon", false},
	{"/etc/system-release", "Amazon", false}, {"/etc/alpine-release", "Alpine", false},
	{"/etc/arch-release", "Archlinux", true}, {"/etc/os-release", "Archlinux", false},
	{"/etc/os-release", "SUSE", false}, {"/etc/SuSE-release", "SUSE", false},
	{"/etc/gentoo-release", "Gentoo", false}, {"/etc/os-release", "Debian", false},
	{"/etc/lsb-release", "Debian", false}, {"/etc/lsb-release", "Mandriva", false},
	{"/etc/sourcemage-release", "SMGL", false}, {"/usr/lib/os-release", "ClearLinux", false},
	{"/etc/coreos/update.conf", "Coreos", false}, {"/etc/os-release", "Flatcar", false},
	{"/etc/os-release", "NA", false},
}

// Paths of the files read by SysFiles, besides the DMI, host key and
// release files.
const (
	cmdlineFile  = "/proc/cmdline"
	loadavgFile  = "/proc/loadavg"
	uptimeFile   = "/proc/uptime"
	fipsFile     = "/proc/sys/crypto/fips_enabled"
	resolvFile   = "/etc/resolv.conf"
	iscsiFile    = "/etc/iscsi/initiatorname.iscsi"
	nvmeFile     = "/etc/nvme/hostnqn"
	lsbFile      = "/etc/lsb-release"
	fcGlob       = "/sys/class/fc_host/*/port_name"
	seEnforce    = "/sys/fs/selinux/enforce"
	sePolicyvers = "/sys/fs/selinux/policyvers"
	seConfig     = "/etc/selinux/config"
	// statusFile is grep's own status: the session's real and effective
	// ids (Uid:, Gid:) without a process for id.
	statusFile = "/proc/self/status"
)

func sysFilePaths() []string {
	p := []string{statusFile, cmdlineFile, loadavgFile, uptimeFile, fipsFile, resolvFile, iscsiFile, nvmeFile, lsbFile,
		seEnforce, sePolicyvers, seConfig}
	for _, d := range dmiFiles {
		p = append(p, dmiDir+d[1])
	}
	for _, dir := range sshKeyDirs {
		for _, a := range sshKeyAlgos {
			p = append(p, dir+"/ssh_host_"+a+"_key.pub")
		}
	}
	seen := map[string]bool{}
	for _, d := range distFiles {
		if !seen[d.path] && d.path != lsbFile {
			seen[d.path] = true
			p = append(p, d.path)
		}
	}
	// A glob, left for the shell: it stays as written when nothing matches,
	// and grep -s skips it then.
	return append(p, fcGlob)
}

// FileSet is files by path: the stripped content of each that could be read
// and was not empty, as get_file_content returns it. Files maps every path
// to its lines in order, for the few callers that read them as lines.
type FileSet struct {
	Files map[string]string
	Order []string // paths in the order grep printed them (the glob's order)
}

// Get returns a file's stripped content and whether it was read and not
// empty.
func (s FileSet) Get(path string) (string, bool) {
	v, ok := s.Files[path]
	return v, ok
}

// ParseFileSet reads grep -H's "path:line" lines. No path it reads holds a
// colon, so the first one ends the path.
func ParseFileSet(b []byte) (FileSet, error) {
	raw := map[string]*strings.Builder{}
	var order []string
	for _, l := range strings.Split(string(b), "\n") {
		p, line, ok := strings.Cut(l, ":")
		if !ok || !strings.HasPrefix(p, "/") {
			continue
		}
		sb := raw[p]
		if sb == nil {
			sb = &strings.Builder{}
			raw[p] = sb
			order = append(order, p)
		} else {
			sb.WriteByte('\n')
		}
		sb.WriteString(line)
	}
	s := FileSet{Files: map[string]string{}}
	for _, p := range order {
		if v := strings.TrimSpace(raw[p].String()); v != "" {
			s.Files[p] = v
			s.Order = append(s.Order, p)
		}
	}
	return s, nil
}
