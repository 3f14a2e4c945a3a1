package facts

import (
	"fmt"
	"math"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Devices is what ansible-core's linux hardware collector reads for
// ansible_devices and ansible_device_links: /sys/block, the /dev/disk/by-*
// links, the device-mapper slaves, lspci -D and sg_inq where installed. The
// files of every disk and partition come from one grep -H per disk.
var Devices = &Fact[BlockDevices]{Name: "devices", Cmd: devicesScript, Parse: ParseDevices}

// devicesScript prints, in sections: @@nosys when /sys/block cannot be
// listed; @@links "dir<TAB>name<TAB>target" per /sys/block entry (no target
// when not a link) and /dev/disk/by-* link, from one find; @@slaves paths;
// @@lspci; per disk its directory's @@entries,
// @@holders and @@sg_inq; then @@files: grep -H's lines of every disk's and
// partition's files, one grep for all.
const devicesScript = `[ -d /sys/block ] || { echo @@nosys; exit 0; }
echo @@links; find /sys/block /dev/disk/by-id /dev/disk/by-uuid /dev/disk/by-label -mindepth 1 -maxdepth 1 -printf '%h\t%f\t%l\n'
echo @@slaves; for s in /sys/block/*/slaves/*; do [ -e "$s" ] || [ -L "$s" ] && echo "$s"; done
if command -v lspci >/dev/null; then echo @@lspci; lspci -D; fi
sg=$(command -v sg_inq); set --
for d in /sys/block/*; do
  [ -e "$d" ] || continue
  b=${d##*/}
  echo "@@entries $b"; for e in "$d"/*; do echo "${e##*/}"; done
  [ -n "$sg" ] && { echo "@@sg_inq $b"; "$sg" "/dev/$b"; }
  set -- "$@" "$d"/device/vendor "$d"/device/model "$d"/device/sas_address "$d"/device/sas_device_handle "$d"/device/serial \
    "$d"/removable "$d"/queue/discard_granularity "$d"/queue/rotational "$d"/queue/scheduler "$d"/size \
    "$d"/queue/logical_block_size "$d"/queue/hw_sector_size "$d"/holders/*/dm/name
  for e in "$d"/"$b"*; do [ -d "$e" ] && set -- "$@" "$e"/start "$e"/size "$e"/queue/logical_block_size "$e"/queue/hw_sector_size "$e"/holders/*/dm/name; done
  echo "@@holders $b"; for e in "$d"/holders/* "$d"/"$b"*/holders/*; do [ -e "$e" ] && echo "${e#$d/}"; done
done
echo @@files; [ $# -gt 0 ] && grep -asH '' "$@" </dev/null
true`

// BlockDevices is the raw material of ansible_devices.
type BlockDevices struct {
	NoSys  bool     // /sys/block could not be listed: no devices, no links
	Links  []string // "dir\tname\ttarget"
	Slaves []string // /sys/block/<dev>/slaves/<target>
	Lspci  string   // lspci -D's output, "" without lspci
	Disks  []Disk
}

// Disk is one /sys/block entry.
type Disk struct {
	Name    string
	Link    string            // readlink of /sys/block/<name>, "" when not a link
	Entries []string          // names in its sysfs directory
	Files   map[string]string // path below /sys/block/<name>/ -> stripped content, read and not empty
	Holders []string          // holders/<dm>, <part>/holders/<dm>
	SgInq   *string           // sg_inq's output, when sg_inq is installed
}

// ParseDevices reads devicesScript's sections.
func ParseDevices(b []byte) (BlockDevices, error) {
	var bd BlockDevices
	disks := map[string]*Disk{}
	disk := func(name string) *Disk {
		if d := disks[name]; d != nil {
			return d
		}
		d := &Disk{Name: name, Files: map[string]string{}}
		disks[name] = d
		return d
	}
	var order []string
	sec, arg := "", ""
	for _, l := range strings.Split(string(b), "\n") {
		if n, ok := strings.CutPrefix(l, "@@"); ok {
			sec, arg, _ = strings.Cut(n, " ")
			switch sec {
			case "nosys":
				bd.NoSys = true
			case "sg_inq":
				empty := ""
				disk(arg).SgInq = &empty
			}
			continue
		}
		switch sec {
		case "links":
			f := strings.SplitN(l, "\t", 3)
			if len(f) != 3 {
				continue
			}
			if f[0] == "/sys/block" {
				disk(f[1]).Link = f[2]
				order = append(order, f[1])
				continue
			}
			if dir, ok := strings.CutPrefix(f[0], "/dev/disk/by-"); ok && f[2] != "" {
				bd.Links = append(bd.Links, dir+"\t"+f[1]+"\t"+f[2])
			}
		case "slaves":
			if l != "" {
				bd.Slaves = append(bd.Slaves, l)
			}
		case "lspci":
			bd.Lspci += l + "\n"
		case "entries":
			if l != "" {
				disk(arg).Entries = append(disk(arg).Entries, l)
			}
		case "sg_inq":
			*disk(arg).SgInq += l + "\n"
		case "holders":
			if l != "" {
				disk(arg).Holders = append(disk(arg).Holders, l)
			}
		case "files":
			p, v, ok := strings.Cut(l, ":")
			rel, found := strings.CutPrefix(p, "/sys/block/")
			if !ok || !found {
				continue
			}
			name, rel, _ := strings.Cut(rel, "/")
			d := disk(name)
			if old, seen := d.Files[rel]; seen {
				v = old + "\n" + v
			}
			d.Files[rel] = v
		}
	}
	for _, name := range order {
		d := disks[name]
		for k, v := range d.Files {
			if v = strings.TrimSpace(v); v == "" {
				delete(d.Files, k)
			} else {
				d.Files[k] = v
			}
		}
		bd.Disks = append(bd.Disks, *d)
	}
	return bd, nil
}

// get is get_file_content on a disk's file: its content, or def when it is
// missing, unreadable or empty.
func (d Disk) get(rel string, def any) any {
	if v, ok := d.Files[rel]; ok && v != "" {
		return v
	}
	return def
}

// AnsibleDevices returns ansible_devices and ansible_device_links (nil when
// /sys/block could not be listed, as Ansible leaves the key out then), as
// hardware/linux.py's get_device_facts builds them.
func AnsibleDevices(bd BlockDevices) (devices map[string]any, links map[string]any) {
	devices = map[string]any{}
	if bd.NoSys {
		return devices, nil
	}
	byDir := map[string]map[string][]string{"ids": {}, "uuids": {}, "labels": {}}
	wwn := map[string]string{}
	uuidOf := map[string]string{} // partition -> first by-uuid name resolving to it
	for _, l := range bd.Links {
		f := strings.SplitN(l, "\t", 3)
		dir := map[string]string{"id": "ids", "uuid": "uuids", "label": "labels"}[f[0]]
		target := path.Base(f[2])
		byDir[dir][target] = append(byDir[dir][target], f[1])
		if f[0] == "id" && strings.HasPrefix(f[1], "wwn-") {
			wwn[target] = f[1][4:]
		}
		if f[0] == "uuid" {
			dev := f[2]
			if !path.IsAbs(dev) {
				dev = path.Join("/dev/disk/by-uuid", dev)
			}
			dev = path.Clean(dev)
			if _, ok := uuidOf[dev]; !ok {
				uuidOf[dev] = f[1]
			}
		}
	}
	masters := map[string][]string{}
	for _, s := range bd.Slaves {
		e := strings.Split(s, "/")
		if len(e) > 5 && !contains(masters[e[5]], e[3]) {
			masters[e[5]] = append(masters[e[5]], e[3])
		}
	}
	byDir["masters"] = masters
	links = map[string]any{}
	for k, m := range byDir {
		lm := map[string]any{}
		for t, names := range m {
			sort.Strings(names)
			lm[t] = strList(names)
		}
		links[k] = lm
	}
	linksOf := func(name string) map[string]any {
		out := map[string]any{}
		for k, m := range byDir {
			out[k] = strList(m[name])
		}
		return out
	}
	for _, d := range bd.Disks {
		devices[path.Base(sysdirOf(d))] = diskFacts(d, bd, linksOf, wwn, uuidOf)
	}
	return devices, links
}

func sysdirOf(d Disk) string {
	if d.Link == "" {
		return "/sys/block/" + d.Name
	}
	return path.Join("/sys/block", d.Link)
}

var (
	pciRe   = regexp.MustCompile(`.+/([a-f0-9]{4}:[a-f0-9]{2}:[0|1][a-f0-9]\.[0-7])/`)
	schedRe = regexp.MustCompile(`.*?(\[(.*)\])`)
	serRe   = regexp.MustCompile(`(?:Unit serial|Serial) number:\s+(\w+)`)
)

func diskFacts(d Disk, bd BlockDevices, linksOf func(string) map[string]any, wwn, uuidOf map[string]string) map[string]any {
	sysdir := sysdirOf(d)
	name := path.Base(sysdir)
	virtual := 1
	if d.Link == "" {
		for _, e := range d.Entries {
			if strings.Contains(e, "device") {
				virtual = 0
				break
			}
		}
	}
	m := map[string]any{"virtual": virtual, "links": linksOf(d.Name)}
	for _, k := range []string{"vendor", "model", "sas_address", "sas_device_handle"} {
		m[k] = d.get("device/"+k, nil)
	}
	if d.SgInq != nil {
		if s := serRe.FindStringSubmatch(*d.SgInq); s != nil {
			m["serial"] = s[1]
		}
	} else if s := d.get("device/serial", nil); s != nil {
		m["serial"] = s
	}
	m["removable"], m["support_discard"] = d.get("removable", nil), d.get("queue/discard_granularity", nil)
	if w, ok := wwn[name]; ok {
		m["wwn"] = w
	}
	parts := map[string]any{}
	partRe, err := regexp.Compile("(" + regexp.QuoteMeta(name) + `[p]?\d+)`)
	if err == nil {
		for _, e := range d.Entries {
			s := partRe.FindStringSubmatch(e)
			if s == nil {
				continue
			}
			pn := s[1]
			p := map[string]any{"links": linksOf(pn), "start": d.get(pn+"/start", 0), "sectors": d.get(pn+"/size", 0)}
			p["sectorsize"] = sectorSize(d, pn+"/")
			p["size"] = BytesToHuman(toFloat(p["sectors"]) * 512)
			if u, ok := uuidOf["/dev/"+pn]; ok {
				p["uuid"] = u
			} else {
				p["uuid"] = nil
			}
			p["holders"] = holders(d, pn+"/")
			parts[pn] = p
		}
	}
	m["partitions"] = parts
	m["rotational"] = d.get("queue/rotational", nil)
	m["scheduler_mode"] = ""
	if s, ok := d.get("queue/scheduler", nil).(string); ok {
		if g := schedRe.FindStringSubmatch(s); g != nil {
			m["scheduler_mode"] = g[2]
		}
	}
	m["sectors"] = d.get("size", 0)
	m["sectorsize"] = sectorSize(d, "")
	m["size"] = BytesToHuman(toFloat(m["sectors"]) * 512)
	m["host"] = ""
	if g := pciRe.FindStringSubmatch(sysdir); g != nil && bd.Lspci != "" {
		if h := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(g[1]) + `\s(.*)$`).FindStringSubmatch(bd.Lspci); h != nil {
			m["host"] = h[1]
		}
	}
	m["holders"] = holders(d, "")
	return m
}

// sectorSize is logical_block_size, else hw_sector_size, else the integer
// 512 (a partition has no queue directory: Ansible gives it 512, a number).
func sectorSize(d Disk, prefix string) any {
	if v := d.get(prefix+"queue/logical_block_size", nil); v != nil {
		return v
	}
	return d.get(prefix+"queue/hw_sector_size", 512)
}

// holders is get_holders: the dm- holders, by their device-mapper name
// where it can be read.
func holders(d Disk, prefix string) []any {
	out := []any{}
	for _, h := range d.Holders {
		rest, ok := strings.CutPrefix(h, prefix+"holders/")
		if !ok || strings.Contains(rest, "/") || !strings.HasPrefix(rest, "dm-") {
			continue
		}
		if n := d.get(prefix+"holders/"+rest+"/dm/name", nil); n != nil {
			out = append(out, n)
		} else {
			out = append(out, rest)
		}
	}
	return out
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case int:
		return float64(x)
	case string:
		f, _ := strconv.ParseFloat(x, 64)
		return f
	}
	return 0
}

// BytesToHuman is ansible's bytes_to_human: "%.2f" of the largest binary
// unit not above size, "Bytes" below 1 KB.
func BytesToHuman(size float64) string {
	for i, u := range "YZEPTGMK" {
		if limit := math.Ldexp(1, 10*(8-i)); size >= limit {
			return fmt.Sprintf("%.2f %cB", size/limit, u)
		}
	}
	return fmt.Sprintf("%.2f Bytes", size)
}

func strList(l []string) []any {
	out := make([]any, 0, len(l))
	for _, s := range l {
		out = append(out, s)
	}
	return out
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}
