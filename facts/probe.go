package facts

import (
	"strings"
)

// Probe runs the few commands ansible-core's system collectors run
// (lsb_release -a, capsh --print, stat for is_chroot, getconf for
// userspace_bits, dmidecode where the kernel has no DMI directory), each in
// its own "@@name" section, in one subshell. The stat of the root's file
// system type runs only where /proc/1/root cannot be read, as Ansible's.
var Probe = &Fact[Sections]{Name: "probe", Cmd: probeScript, Parse: ParseSections}

// The sections of Probe. lsb_release, capsh and dmidecode count only when
// they succeed, as Ansible uses their output only on rc 0, so a failure
// prints no section at all.
var probeScript = `if command -v lsb_release >/dev/null; then o=$(lsb_release -a) && printf '@@lsb_release\n%s\n' "$o"; fi
if command -v capsh >/dev/null; then echo @@capsh_found; o=$(capsh --print) && printf '@@capsh\n%s\n' "$o"; fi
echo @@chroot; [ -n "$debian_chroot" ] && echo debian_chroot
stat -c '%d %i' / /proc/1/root/. || { echo @@rootfs; stat -f -c %T /; }
echo @@long_bit; getconf LONG_BIT
echo @@exists; for f in /sys/kernel/security/apparmor /etc/vmware-release /etc/arch-release ` + dmiDir + `product_name; do [ -e "$f" ] && echo "$f"; done
if [ ! -e ` + dmiDir + `product_name ] && command -v dmidecode >/dev/null; then
  for k in ` + dmidecodeKeywords + `; do o=$(dmidecode -s "$k") && printf '@@dmidecode %s\n%s\n' "$k" "$o"; done
fi
true`

var dmidecodeKeywords = func() string {
	var k []string
	for _, d := range dmiFiles {
		k = append(k, d[2])
	}
	return strings.Join(k, " ")
}()

// Sections is a command's output cut at its "@@name" lines: the lines of
// each section, by name.
type Sections map[string][]string

// Has reports whether the section was printed.
func (s Sections) Has(name string) bool {
	_, ok := s[name]
	return ok
}

// Text is a section's lines joined again.
func (s Sections) Text(name string) string { return strings.Join(s[name], "\n") }

// ParseSections cuts output at lines "@@name".
func ParseSections(b []byte) (Sections, error) {
	s := Sections{}
	var cur string
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if n, ok := strings.CutPrefix(l, "@@"); ok && n != "" && !strings.ContainsAny(n[:1], " \t") {
			cur = n
			if s[cur] == nil {
				s[cur] = []string{}
			}
			continue
		}
		if cur != "" {
			s[cur] = append(s[cur], l)
		}
	}
	return s, nil
}
