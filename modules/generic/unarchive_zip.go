package generic

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

// A zip from the controller is read here with archive/zip and planned
// member by member against what dest holds (type, sha256, mode,
// mtime, owner), then written over the connection's atomic WriteFile: the
// host needs no unzip, which Ansible's ZipArchive requires. Ansible
// compares the same things (with CRC32 for the checksum) through zipinfo.

// zipMagic starts a zip archive (a local file header, or the end record of
// an empty one).
func isZip(b []byte) bool {
	return bytes.HasPrefix(b, []byte("PK\x03\x04")) || bytes.HasPrefix(b, []byte("PK\x05\x06"))
}

// zipMember is one path under dest that the archive puts there.
type zipMember struct {
	name     string      // relative to dest, cleaned, no trailing slash
	mode     fs.FileMode // type and permission bits as unpacked
	mtime    time.Time
	link     string    // a symlink's target
	file     *zip.File // a file's member, read again to write it
	sha256   string    // of a file's contents
	implicit bool      // a parent folder the archive does not list
}

func (z zipMember) isDir() bool  { return z.mode.IsDir() }
func (z zipMember) isLink() bool { return z.mode&fs.ModeSymlink != 0 }

// zipMembers reads the archive's members after include and exclude, with
// the parent folders it does not list. A member that would land outside
// dest (zip-slip: an absolute path, a .. component, a path under one of
// the archive's own symlinks) fails the whole archive before anything is
// written.
func zipMembers(data []byte, include, exclude []string) (names []string, out []zipMember, err error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, nil, fmt.Errorf("not a zip archive Go can read: %w", err)
	}
	seen := map[string]bool{}
	links := map[string]bool{}
	for _, f := range zr.File {
		name, err := safeMemberName(f.Name)
		if err != nil {
			return nil, nil, err
		}
		if !selected(f.Name, include, exclude) || name == "" {
			continue
		}
		names = append(names, f.Name)
		zm := zipMember{name: name, mode: memberMode(f), mtime: f.Modified.Truncate(time.Second)}
		if err := zm.read(f); err != nil {
			return nil, nil, err
		}
		if zm.isLink() {
			links[name] = true
		}
		seen[name] = true
		out = append(out, zm)
	}
	for _, zm := range out {
		for dir := path.Dir(zm.name); dir != "."; dir = path.Dir(dir) {
			if links[dir] {
				return nil, nil, fmt.Errorf("member %s lies under the archive's symlink %s: refused, it could write outside dest", zm.name, dir)
			}
			if !seen[dir] {
				seen[dir] = true
				out = append(out, zipMember{name: dir, mode: fs.ModeDir | 0o755, implicit: true})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name }) // parents first
	return names, out, nil
}

// safeMemberName cleans a member's name, refusing one that escapes dest.
func safeMemberName(raw string) (string, error) {
	n := strings.ReplaceAll(raw, `\`, "/")
	if path.IsAbs(n) || (len(n) > 1 && n[1] == ':') {
		return "", fmt.Errorf("member %q has an absolute path: refused (zip-slip)", raw)
	}
	for _, part := range strings.Split(n, "/") {
		if part == ".." {
			return "", fmt.Errorf("member %q climbs out of dest with ..: refused (zip-slip)", raw)
		}
	}
	n = path.Clean(n)
	if n == "." {
		return "", nil
	}
	return n, nil
}

// memberMode is the member's mode as unzip gives it: the Unix bits when
// the archive was made on Unix, else 0755 for folders and 0644 for files
// (FAT attributes under the usual umask).
func memberMode(f *zip.File) fs.FileMode {
	m := f.Mode()
	typ := m & (fs.ModeDir | fs.ModeSymlink)
	if f.CreatorVersion>>8 != 3 || m.Perm() == 0 { // 3: made on Unix
		if typ == fs.ModeDir {
			return fs.ModeDir | 0o755
		}
		return typ | 0o644
	}
	return typ | m.Perm() | m&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)
}

// read takes a link's target, or hashes a file's contents as they stream
// by: a large archive's members are not all held in memory at once.
func (zm *zipMember) read(f *zip.File) error {
	switch {
	case zm.isDir():
	case zm.isLink():
		b, err := readMember(f)
		zm.link = string(b)
		return err
	default:
		rc, err := f.Open()
		if err != nil {
			return fmt.Errorf("member %s: %w", f.Name, err)
		}
		defer rc.Close()
		h := sha256.New()
		if _, err := io.Copy(h, rc); err != nil {
			return fmt.Errorf("member %s: %w", f.Name, err)
		}
		zm.file, zm.sha256 = f, hex.EncodeToString(h.Sum(nil))
	}
	return nil
}

func readMember(f *zip.File) ([]byte, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("member %s: %w", f.Name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("member %s: %w", f.Name, err)
	}
	return b, nil
}

// selected applies include and exclude to a member's name as Ansible does:
// fnmatch patterns, where * also matches /.
func selected(name string, include, exclude []string) bool {
	if len(include) > 0 {
		for _, p := range include {
			if fnmatch(p, name) {
				return true
			}
		}
		return false
	}
	for _, p := range exclude {
		if fnmatch(p, name) {
			return false
		}
	}
	return true
}

// fnmatch is Python's fnmatch.fnmatch: * ? [seq] [!seq], matched whole.
func fnmatch(pattern, name string) bool {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; c {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		case '[':
			j := strings.IndexByte(pattern[i+1:], ']')
			if j < 0 {
				b.WriteString(`\[`)
				continue
			}
			body := pattern[i+1 : i+1+j]
			if strings.HasPrefix(body, "!") {
				body = "^" + body[1:]
			}
			b.WriteString("[" + strings.ReplaceAll(body, `\`, `\\`) + "]")
			i += j + 1
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	re, err := regexp.Compile(b.String() + "$")
	return err == nil && re.MatchString(name)
}

// checkZip plans a controller zip.
func (m *Unarchive) checkZip(ctx context.Context, h modules.Host) (plan.Diff, error) {
	var d plan.Diff
	m.result["handler"] = "ZipArchive"
	if len(m.ExtraOpts) > 0 {
		return d, fmt.Errorf("unarchive: %s is a zip archive: extra_opts are tar options, not supported for zips (use include/exclude)", m.Src)
	}
	names, members, err := zipMembers(m.data, m.Include, m.Exclude)
	if err != nil {
		return d, fmt.Errorf("unarchive: %s: %w", m.Src, err)
	}
	if m.ListFiles {
		m.result["files"] = append([]string{}, names...)
	}
	zp, err := m.planZip(ctx, h, members, &d)
	if err != nil {
		return d, fmt.Errorf("unarchive: %s: %w", m.Src, err)
	}
	if !d.Empty() {
		d.State = zp
	}
	return d, nil
}
