package generic

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:      "stat",
		Summary:   "Read a path's type, mode, owner, times and checksum into a registered variable",
		CheckMode: "Reads only; it runs under --check as in a real run, so later tasks can use what it registers.",
		Example: `- name: Is containerd configured yet?
  stat:
    path: /etc/containerd/config.toml
  register: cfg
- debug: {msg: "{{ cfg.stat.checksum }}"}
  when: cfg.stat.exists`,
		New: func() modules.Module { return &Stat{} },
	})
}

// Stat registers what Ansible's stat registers: `stat` with exists, mode,
// isdir, checksum and the rest.
type Stat struct {
	Path          string `yaml:"path" required:"true" aliases:"dest,name" doc:"absolute path to inspect"`
	Follow        bool   `yaml:"follow" doc:"follow a symlink and describe what it points to"`
	GetChecksum   bool   `yaml:"get_checksum" default:"true" doc:"compute the checksum of a readable regular file"`
	ChecksumAlgo  string `yaml:"checksum_algorithm" default:"sha1" choices:"md5,sha1,sha224,sha256,sha384,sha512" aliases:"checksum,checksum_algo" doc:"the checksum's algorithm"`
	GetMime       bool   `yaml:"get_mime" default:"true" aliases:"mime,mime_type,mime-type" doc:"mimetype and charset from the host's file(1); \"unknown\" where it is missing"`
	GetAttributes bool   `yaml:"get_attributes" default:"true" aliases:"attr,attributes" doc:"version, attributes and attr_flags from the host's lsattr"`
	GetMD5        bool   `yaml:"get_md5" doc:"also compute md5 (kept by Ansible for old playbooks)"`

	stat map[string]any
}

func (m *Stat) Validate() error { return absPath("path", m.Path) }

func (m *Stat) Reads() []string { return []string{m.Path} }

func (m *Stat) Result() map[string]any { return map[string]any{"stat": m.stat} }

// statScript prints key=value lines about $1, all from one process: the
// host is asked once, however many fields the result has.
const statScript = `p=$1; L=
if [ "$2" = 1 ]; then L=-L; [ -e "$p" ] || { echo missing; exit 0; }
else [ -e "$p" ] || [ -L "$p" ] || { echo missing; exit 0; }; fi
stat $L -c 'st=%f %u %g %s %i %d %h %.9X %.9Y %.9Z %b %o %t %T' -- "$p" || exit 1
stat $L -c 'pw=%U' -- "$p"; stat $L -c 'gr=%G' -- "$p"
test -r "$p" && echo r=1; test -w "$p" && echo w=1; test -x "$p" && echo x=1
if [ -L "$p" ]; then echo "src=$(realpath -m -- "$p")"; echo "tgt=$(readlink -- "$p")"; fi
if [ -f "$p" ] && [ -r "$p" ] && { [ -n "$L" ] || [ ! -L "$p" ]; }; then
  [ -n "$3" ] && echo "sum=$($3sum < "$p" | cut -d' ' -f1)"
  [ "$6" = 1 ] && echo "md5=$(md5sum < "$p" | cut -d' ' -f1)"
fi
if [ "$4" = 1 ] && command -v file >/dev/null; then echo "mime=$(file -b --mime-type --mime-encoding -- "$p")"; fi
if [ "$5" = 1 ] && command -v lsattr >/dev/null; then a=$(lsattr -vd -- "$p" 2>/dev/null) && echo "attr=$a"; fi
exit 0`

func (m *Stat) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	if err := expandHome(ctx, h, &m.Path); err != nil {
		return plan.Diff{}, err
	}
	algo := ""
	if m.GetChecksum {
		algo = m.ChecksumAlgo
	}
	cmd := conn.Join("sh", "-c", statScript, "-", m.Path, flag(m.Follow), algo, flag(m.GetMime), flag(m.GetAttributes), flag(m.GetMD5))
	out, err := conn.Output(ctx, h.Conn(), cmd)
	if err != nil {
		return plan.Diff{}, fmt.Errorf("stat %s: %w", m.Path, err)
	}
	st, err := parseStat(m.Path, out, m.GetMime, m.GetAttributes)
	if err != nil {
		return plan.Diff{}, fmt.Errorf("stat %s: %w", m.Path, err)
	}
	m.stat = st
	return plan.Diff{}, nil
}

// Apply is never called: Check never finds anything to change.
func (m *Stat) Apply(context.Context, modules.Host, plan.Diff) error { return nil }

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// parseStat turns statScript's lines into Ansible's stat dictionary.
func parseStat(p, out string, mime, attrs bool) (map[string]any, error) {
	if strings.TrimSpace(out) == "missing" {
		return map[string]any{"exists": false}, nil
	}
	kv := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			kv[k] = v
		}
	}
	f := strings.Fields(kv["st"])
	if len(f) != 14 {
		return nil, fmt.Errorf("unexpected stat output %q", out)
	}
	n := make([]uint64, len(f))
	var times [3]float64
	for i, s := range f {
		var err error
		switch {
		case i >= 7 && i <= 9:
			times[i-7], err = strconv.ParseFloat(s, 64)
		case i == 0 || i >= 12:
			n[i], err = strconv.ParseUint(s, 16, 64)
		default:
			n[i], err = strconv.ParseUint(s, 10, 64)
		}
		if err != nil {
			return nil, fmt.Errorf("unexpected stat output %q: %w", out, err)
		}
	}
	st := modeFields(uint32(n[0]))
	st["exists"], st["path"] = true, p
	st["uid"], st["gid"], st["size"], st["inode"], st["dev"], st["nlink"] = int(n[1]), int(n[2]), int64(n[3]), n[4], n[5], int(n[6])
	st["atime"], st["mtime"], st["ctime"] = times[0], times[1], times[2]
	st["blocks"], st["block_size"], st["device_type"] = int64(n[10]), int(n[11]), mkdev(n[12], n[13])
	st["readable"], st["writeable"], st["executable"] = kv["r"] == "1", kv["w"] == "1", kv["x"] == "1"
	for key, field := range map[string]string{"pw": "pw_name", "gr": "gr_name"} {
		if v := kv[key]; v != "" && v != "UNKNOWN" {
			st[field] = v
		}
	}
	if st["islnk"] == true {
		st["lnk_source"], st["lnk_target"] = kv["src"], kv["tgt"]
	}
	for key, field := range map[string]string{"sum": "checksum", "md5": "md5"} {
		if v, ok := kv[key]; ok {
			st[field] = v
		}
	}
	if mime {
		st["mimetype"], st["charset"] = parseMime(kv["mime"])
	}
	if attrs {
		st["version"], st["attributes"], st["attr_flags"] = parseAttrs(kv["attr"])
	}
	return st, nil
}

// fileAttributes are lsattr's letters, named as Ansible names them.
var fileAttributes = map[rune]string{
	'A': "noatime", 'a': "append", 'c': "compressed", 'C': "nocow", 'd': "nodump", 'D': "dirsync",
	'e': "extents", 'E': "encrypted", 'h': "blocksize", 'i': "immutable", 'I': "indexed",
	'j': "journalled", 'N': "inline", 's': "zero", 'S': "synchronous", 't': "notail",
	'T': "blockroot", 'u': "undelete", 'X': "compressedraw", 'Z': "compresseddirty",
}

// parseAttrs reads `lsattr -vd`'s "VERSION FLAGS PATH"; without it (no
// lsattr, a file system without attributes) Ansible reports none.
func parseAttrs(s string) (version any, attributes []string, flags string) {
	attributes = []string{}
	f := strings.Fields(s)
	if len(f) < 2 {
		return nil, attributes, ""
	}
	flags = strings.ReplaceAll(f[1], "-", "")
	for _, r := range flags {
		if name, ok := fileAttributes[r]; ok {
			attributes = append(attributes, name)
		}
	}
	return f[0], attributes, flags
}

// modeFields are the booleans and the octal mode Ansible derives from
// st_mode (given in hex by stat %f).
func modeFields(mode uint32) map[string]any {
	typ := mode & 0o170000
	bit := func(b uint32) bool { return mode&b != 0 }
	return map[string]any{
		"mode":  fmt.Sprintf("%04o", mode&0o7777),
		"isdir": typ == 0o040000, "ischr": typ == 0o020000, "isblk": typ == 0o060000, "isreg": typ == 0o100000,
		"isfifo": typ == 0o010000, "islnk": typ == 0o120000, "issock": typ == 0o140000,
		"wusr": bit(0o200), "rusr": bit(0o400), "xusr": bit(0o100),
		"wgrp": bit(0o020), "rgrp": bit(0o040), "xgrp": bit(0o010),
		"woth": bit(0o002), "roth": bit(0o004), "xoth": bit(0o001),
		"isuid": bit(0o4000), "isgid": bit(0o2000),
	}
}

// mkdev encodes major and minor as Linux's st_rdev does.
func mkdev(major, minor uint64) uint64 {
	return (minor & 0xff) | (major&0xfff)<<8 | (minor&^0xff)<<12 | (major&^0xfff)<<32
}

// parseMime reads file(1)'s "text/plain; charset=us-ascii".
func parseMime(s string) (mimetype, charset string) {
	t, cs, ok := strings.Cut(s, ";")
	if !ok {
		return "unknown", "unknown"
	}
	_, cs, _ = strings.Cut(cs, "=")
	return strings.TrimSpace(t), strings.TrimSpace(cs)
}

var (
	_ modules.Module   = (*Stat)(nil)
	_ modules.Reader   = (*Stat)(nil)
	_ modules.Resulter = (*Stat)(nil)
)
