package facts

import (
	"strings"
)

// LVM is what hardware/linux.py's get_lvm_facts reads: vgs, lvs and pvs in
// gigabytes, only as root (the real uid, as os.getuid) and with vgs
// installed; dmsetup names the /dev/dm-N physical volumes as /dev/mapper/
// ones.
var LVM = &Fact[LVMInfo]{Name: "lvm", Cmd: `command -v vgs >/dev/null && [ "$(id -ru)" = 0 ] || exit 0
o='--noheadings --nosuffix --units g --separator ,'
echo @@vgs; vgs $o
if command -v lvs >/dev/null; then echo @@lvs; lvs $o; fi
if command -v pvs >/dev/null; then echo @@pvs; pvs $o; fi
if command -v dmsetup >/dev/null; then echo @@dm; dmsetup info -C --noheadings --separator , -o blkdevname,name; fi
true`, Parse: ParseLVM}

// LVMInfo holds the raw lines of vgs, lvs and pvs; Probed is false where
// Ansible reports "N/A" (not root, or no vgs).
type LVMInfo struct {
	Probed        bool
	VGs, LVs, PVs []string
	DM            map[string]string // dm-0 -> its device-mapper name
}

// ParseLVM reads the LVM command's sections.
func ParseLVM(b []byte) (LVMInfo, error) {
	s, _ := ParseSections(b)
	l := LVMInfo{Probed: s.Has("vgs"), VGs: s["vgs"], LVs: s["lvs"], PVs: s["pvs"], DM: map[string]string{}}
	for _, line := range s["dm"] {
		if dev, name, ok := strings.Cut(strings.TrimSpace(line), ","); ok {
			l.DM[dev] = name
		}
	}
	return l, nil
}

// Ansible is ansible_lvm: "N/A", or the vgs, lvs and pvs dicts with
// get_lvm_facts' keys, every value a string.
func (l LVMInfo) Ansible() any {
	if !l.Probed {
		return "N/A"
	}
	rows := func(lines []string, min int, each func([]string)) {
		for _, line := range lines {
			if f := strings.Split(strings.TrimSpace(line), ","); len(f) >= min && strings.TrimSpace(line) != "" {
				each(f)
			}
		}
	}
	vgs, lvs, pvs := map[string]any{}, map[string]any{}, map[string]any{}
	rows(l.VGs, 3, func(f []string) {
		vgs[f[0]] = map[string]any{"size_g": f[len(f)-2], "free_g": f[len(f)-1], "num_lvs": f[2], "num_pvs": f[1]}
	})
	rows(l.LVs, 4, func(f []string) { lvs[f[0]] = map[string]any{"size_g": f[3], "vg": f[1]} })
	rows(l.PVs, 6, func(f []string) {
		name := f[0]
		if dm, ok := strings.CutPrefix(name, "/dev/dm-"); ok {
			if n, ok := l.DM["dm-"+dm]; ok {
				name = "/dev/mapper/" + n
			}
		}
		pvs[name] = map[string]any{"size_g": f[4], "free_g": f[5], "vg": f[1]}
	})
	return map[string]any{"vgs": vgs, "lvs": lvs, "pvs": pvs}
}
