package generic

import (
	"context"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
)

// findEntry is one line of find -printf: type, target type, then the
// lstat fields Ansible reports.
type findEntry struct {
	path   string
	typ    byte // find's %y: f d l c b p s
	target byte // %Y: the type a symlink points to
	st     map[string]any
	deep   bool // beyond depth: examined, as Ansible's walk lists it, never matched
}

const findFormat = `%y %Y %m %U %G %s %i %D %n %A@ %T@ %C@ %u %g %p\0`

// list returns root's entries in os.walk's order: per directory its
// non-directories, then its directories, then each subdirectory's.
func (m *Find) list(ctx context.Context, h modules.Host, root string) ([]findEntry, error) {
	args := []string{"find"}
	if m.Follow {
		args = append(args, "-L")
	}
	args = append(args, root, "-mindepth", "1")
	switch {
	case !m.Recurse:
		args = append(args, "-maxdepth", "1")
	case m.Depth > 0:
		// os.walk lists the entries one level below depth before Ansible
		// prunes them; they count as examined.
		args = append(args, "-maxdepth", strconv.Itoa(m.Depth+1))
	}
	script := `[ -d "$1" ] || { echo notdir; exit 0; }; ` + conn.Join(args...) + ` -printf ` + conn.Quote(findFormat) + ` 2>/dev/null; exit 0`
	out, err := conn.Output(ctx, h.Conn(), conn.Join("sh", "-c", script, "-", root))
	if err != nil {
		return nil, fmt.Errorf("find %s: %w", root, err)
	}
	if out == "notdir" {
		return nil, fmt.Errorf("'%s' %w", root, errNotDir)
	}
	children := map[string][]findEntry{}
	for _, rec := range strings.Split(out, "\x00") {
		if rec == "" {
			continue
		}
		e, err := parseFindEntry(rec)
		if err != nil {
			return nil, fmt.Errorf("find %s: %w", root, err)
		}
		rel := strings.TrimPrefix(e.path, path.Clean(root)+"/")
		e.deep = m.Recurse && m.Depth > 0 && strings.Count(rel, "/")+1 > m.Depth
		children[path.Dir(e.path)] = append(children[path.Dir(e.path)], e)
	}
	var ordered []findEntry
	var walk func(dir string)
	walk = func(dir string) {
		kids := children[dir]
		isDir := func(e findEntry) bool { return e.typ == 'd' || (e.typ == 'l' && e.target == 'd') }
		for _, e := range kids {
			if !isDir(e) {
				ordered = append(ordered, e)
			}
		}
		for _, e := range kids {
			if isDir(e) {
				ordered = append(ordered, e)
			}
		}
		for _, e := range kids {
			if isDir(e) {
				walk(e.path)
			}
		}
	}
	walk(path.Clean(root))
	return ordered, nil
}

var findTypes = map[byte]uint32{'f': 0o100000, 'd': 0o040000, 'l': 0o120000, 'c': 0o020000, 'b': 0o060000, 'p': 0o010000, 's': 0o140000}

func parseFindEntry(rec string) (findEntry, error) {
	f := strings.SplitN(rec, " ", 15)
	if len(f) != 15 || len(f[0]) != 1 || len(f[1]) != 1 {
		return findEntry{}, fmt.Errorf("unexpected find output %q", rec)
	}
	e := findEntry{path: path.Clean(f[14]), typ: f[0][0], target: f[1][0]}
	perm, err := strconv.ParseUint(f[2], 8, 32)
	if err != nil {
		return e, fmt.Errorf("unexpected mode in %q", rec)
	}
	n := make([]int64, 6)
	for i := range n {
		if n[i], err = strconv.ParseInt(f[3+i], 10, 64); err != nil {
			return e, fmt.Errorf("unexpected number in %q", rec)
		}
	}
	var t [3]float64
	for i := range t {
		if t[i], err = strconv.ParseFloat(f[9+i], 64); err != nil {
			return e, fmt.Errorf("unexpected time in %q", rec)
		}
	}
	st := modeFields(findTypes[e.typ] | uint32(perm))
	st["path"] = e.path
	st["uid"], st["gid"], st["size"], st["inode"], st["dev"], st["nlink"] = n[0], n[1], n[2], n[3], n[4], n[5]
	st["atime"], st["mtime"], st["ctime"] = t[0], t[1], t[2]
	// find prints the number for an id without a name; Ansible gives "".
	st["pw_name"], st["gr_name"] = nameOrEmpty(f[12], n[0]), nameOrEmpty(f[13], n[1])
	e.st = st
	return e, nil
}

func nameOrEmpty(name string, id int64) string {
	if name == strconv.FormatInt(id, 10) {
		return ""
	}
	return name
}

// keep applies Ansible's filters to one entry and returns its result.
func (m *Find) keep(ctx context.Context, h modules.Host, e findEntry, now float64) (map[string]any, bool, error) {
	base := path.Base(e.path)
	if e.deep || (strings.HasPrefix(base, ".") && !m.Hidden) {
		return nil, false, nil
	}
	if !anyMatch(m.pats, base) || anyMatch(m.excls, base) {
		return nil, false, nil
	}
	stamp := e.st[m.AgeStamp].(float64)
	if m.age != nil && ((*m.age >= 0 && now-stamp < float64(*m.age)) || (*m.age < 0 && now-stamp > float64(-*m.age))) {
		return nil, false, nil
	}
	size := e.st["size"].(int64)
	sizeOK := m.size == nil || (*m.size >= 0 && size >= *m.size) || (*m.size < 0 && size <= -*m.size)
	switch {
	case m.FileType == "any":
		if e.typ == 'f' && !sizeOK {
			return nil, false, nil
		}
	case m.FileType == "directory" && e.typ == 'd', m.FileType == "link" && e.typ == 'l':
	case m.FileType == "file" && e.typ == 'f':
		if !sizeOK {
			return nil, false, nil
		}
		if ok, err := m.hasContent(ctx, h, e.path); err != nil || !ok {
			return nil, false, err
		}
	default:
		return nil, false, nil
	}
	if e.typ == 'f' && m.GetChecksum {
		out, err := conn.Output(ctx, h.Conn(), conn.Join("sha1sum", "--", e.path))
		if err != nil {
			return nil, false, fmt.Errorf("checksum %s: %w", e.path, err)
		}
		e.st["checksum"], _, _ = strings.Cut(out, " ")
	}
	return e.st, true, nil
}

func anyMatch(ms []func(string) bool, s string) bool {
	for _, m := range ms {
		if m(s) {
			return true
		}
	}
	return false
}

// hasContent is Ansible's contentfilter: a line that matches from its
// start, or with read_whole_file a match anywhere; unreadable files do not
// match.
func (m *Find) hasContent(ctx context.Context, h modules.Host, p string) (bool, error) {
	if m.contains == nil {
		return true, nil
	}
	b, err := h.Conn().ReadFile(ctx, p)
	if err != nil {
		return false, nil
	}
	if m.ReadWholeFile {
		return m.contains.MatchString(string(b)), nil
	}
	for _, l := range strings.SplitAfter(string(b), "\n") {
		if match, _ := m.contains.Match(l); match != nil {
			return true, nil
		}
	}
	return false, nil
}
