package facts

import (
	"strings"
)

// OSRelease is /etc/os-release (os-release(5)): the one parser of it in
// gpuctl.
type OSRelease struct {
	ID         string   // debian, ubuntu
	IDLike     []string // ID_LIKE, space separated
	Name       string   // NAME
	Version    string   // VERSION: "12 (bookworm)"
	VersionID  string   // VERSION_ID: "12", "24.04"
	Codename   string   // VERSION_CODENAME, else UBUNTU_CODENAME
	PrettyName string   // PRETTY_NAME
	// Fields holds every key, unquoted, for what the fields above leave out.
	Fields map[string]string
}

// OS is the host's /etc/os-release (a symlink to /usr/lib/os-release on
// current systems; SFTP follows it).
var OS = &Fact[OSRelease]{
	Name:  "os_release",
	File:  "/etc/os-release",
	Parse: func(b []byte) (OSRelease, error) { return ParseOSRelease(string(b)), nil },
}

// ParseOSRelease reads os-release(5) syntax: KEY=value, the value optionally
// in single or double quotes with backslash escapes, # comments.
func ParseOSRelease(s string) OSRelease {
	kv := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" {
			continue
		}
		kv[strings.TrimSpace(k)] = unquote(strings.TrimSpace(v))
	}
	o := OSRelease{
		ID: kv["ID"], IDLike: strings.Fields(kv["ID_LIKE"]), Name: kv["NAME"], Version: kv["VERSION"],
		VersionID: kv["VERSION_ID"], Codename: kv["VERSION_CODENAME"], PrettyName: kv["PRETTY_NAME"], Fields: kv,
	}
	if o.Codename == "" {
		o.Codename = kv["UBUNTU_CODENAME"]
	}
	return o
}

// unquote removes shell-style quotes and the escapes os-release allows
// inside double quotes (\" \\ \$ \`).
func unquote(v string) string {
	if len(v) < 2 || (v[0] != '"' && v[0] != '\'') || v[len(v)-1] != v[0] {
		return v
	}
	q, v := v[0], v[1:len(v)-1]
	if q == '\'' {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) && strings.IndexByte("\"\\$`", v[i+1]) >= 0 {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// Like reports whether the OS is id or derived from it (ID_LIKE).
func (o OSRelease) Like(id string) bool {
	if o.ID == id {
		return true
	}
	for _, l := range o.IDLike {
		if l == id {
			return true
		}
	}
	return false
}

// distributions are Ansible's spellings of ansible_distribution for the IDs
// where capitalising the first letter is wrong.
var distributions = map[string]string{
	"rhel": "RedHat", "centos": "CentOS", "ol": "OracleLinux", "opensuse-leap": "openSUSE Leap",
	"opensuse-tumbleweed": "openSUSE Tumbleweed", "sles": "SLES", "amzn": "Amazon", "rocky": "Rocky",
	"almalinux": "AlmaLinux", "linuxmint": "Linux Mint", "pop": "Pop!_OS", "arch": "Archlinux",
}

// Distribution is ansible_distribution: "Debian", "Ubuntu", "RedHat".
func (o OSRelease) Distribution() string {
	if d, ok := distributions[o.ID]; ok {
		return d
	}
	if o.ID == "" {
		return ""
	}
	return strings.ToUpper(o.ID[:1]) + o.ID[1:]
}

// families maps a distribution ID (or an ID_LIKE entry) to ansible_os_family.
var families = map[string]string{
	"debian": "Debian", "ubuntu": "Debian", "linuxmint": "Debian", "pop": "Debian", "raspbian": "Debian",
	"rhel": "RedHat", "centos": "RedHat", "fedora": "RedHat", "rocky": "RedHat", "almalinux": "RedHat",
	"ol": "RedHat", "amzn": "RedHat", "suse": "Suse", "sles": "Suse", "opensuse": "Suse",
	"opensuse-leap": "Suse", "opensuse-tumbleweed": "Suse", "arch": "Archlinux", "alpine": "Alpine",
	"gentoo": "Gentoo",
}

// Family is ansible_os_family: "Debian" for Debian and Ubuntu, "RedHat" for
// the RHEL family, else the distribution.
func (o OSRelease) Family() string {
	for _, id := range append([]string{o.ID}, o.IDLike...) {
		if f, ok := families[id]; ok {
			return f
		}
	}
	return o.Distribution()
}
