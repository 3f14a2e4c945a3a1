package generic

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:    "synchronize",
		Summary: "Copy a file or a tree between the controller and the host as rsync does (ansible.posix.synchronize)",
		CheckMode: "Lists both sides (type, mode, owner, size, mtime, sha256 of files whose size matches) and reports each " +
			"file, directory and link that would be created, updated or, with delete, removed. Writes nothing.",
		Example: `- name: Push the downloaded binaries
  synchronize:
    src: cache/bin/         # trailing /: the directory's contents
    dest: /usr/local/bin/
    delete: false
- name: Bring a file back to the controller's cache
  synchronize: {mode: pull, src: /tmp/releases/kubeadm, dest: cache/kubeadm}`,
		New: func() modules.Module { return &Synchronize{} },
	})
}

// Synchronize is ansible.posix.synchronize without rsync: gpuctl lists both
// sides over its own connections and copies what rsync would, with rsync's
// path rules (a trailing slash on src copies the directory's contents) and
// the archive options' meaning. The options about rsync's transport are
// accepted and change nothing: gpuctl's connection carries the files.
type Synchronize struct {
	Src          string   `yaml:"src" required:"true" doc:"the source: on the controller for push (relative: the role's files/, then the playbook's directory), on the host for pull"`
	Dest         string   `yaml:"dest" required:"true" doc:"the destination: on the host for push, on the controller for pull (relative: the playbook's directory)"`
	Mode         string   `yaml:"mode" default:"push" choices:"push,pull" doc:"push copies from the controller to the host, pull from the host to the controller"`
	Archive      bool     `yaml:"archive" default:"true" doc:"the defaults of recursive, links, perms, times, owner and group"`
	Recursive    *bool    `yaml:"recursive" doc:"copy directories recursively (default: archive)"`
	Links        *bool    `yaml:"links" doc:"copy symlinks as symlinks (default: archive)"`
	CopyLinks    bool     `yaml:"copy_links" doc:"copy what symlinks point to instead of the links"`
	Perms        *bool    `yaml:"perms" doc:"give destination files the source's permissions (default: archive)"`
	Times        *bool    `yaml:"times" doc:"give destination files the source's modification times (default: archive)"`
	Owner        *bool    `yaml:"owner" doc:"keep the source's owner, when the destination side runs as root (default: archive)"`
	Group        *bool    `yaml:"group" doc:"keep the source's group, when the destination side runs as root (default: archive)"`
	Checksum     bool     `yaml:"checksum" doc:"compare files by content only, not by size and time"`
	Delete       bool     `yaml:"delete" doc:"remove destination files the source does not have (with a recursive copy)"`
	ExistingOnly bool     `yaml:"existing_only" doc:"only update files the destination already has"`
	Dirs         bool     `yaml:"dirs" doc:"copy directories without their contents, when not recursive"`
	RsyncOpts    []string `yaml:"rsync_opts" doc:"rsync options: --exclude/--include patterns are honoured; --no-motd, --quiet and --verbose are accepted; others are refused"`
	LinkDest     []string `yaml:"link_dest" doc:"not supported (hard links against another tree)"`

	// rsync's transport, carried here by gpuctl's own connection
	Compress                  *bool  `yaml:"compress" doc:"accepted; gpuctl's SSH transport decides"`
	DestPort                  int    `yaml:"dest_port" doc:"accepted; the inventory's port is used"`
	RsyncPath                 string `yaml:"rsync_path" doc:"accepted; no rsync runs"`
	RsyncTimeout              int    `yaml:"rsync_timeout" doc:"accepted; use the task's timeout"`
	SetRemoteUser             *bool  `yaml:"set_remote_user" doc:"accepted; the inventory's user is used"`
	UseSSHArgs                bool   `yaml:"use_ssh_args" doc:"accepted; gpuctl's connection already uses the inventory's SSH settings"`
	SSHArgs                   string `yaml:"ssh_args" doc:"accepted; see use_ssh_args"`
	SSHConnectionMultiplexing bool   `yaml:"ssh_connection_multiplexing" doc:"accepted; gpuctl keeps one connection per host"`
	Partial                   bool   `yaml:"partial" doc:"accepted; files are written atomically"`
	DelayUpdates              *bool  `yaml:"delay_updates" doc:"accepted; files are written atomically"`
	VerifyHost                bool   `yaml:"verify_host" doc:"accepted; gpuctl always verifies host keys"`
	PrivateKey                string `yaml:"private_key" doc:"accepted; the inventory's key is used"`

	excludes, includes []string
	result             map[string]any
}

func (m *Synchronize) Validate() error {
	if len(m.LinkDest) > 0 {
		return errors.New("link_dest is not supported")
	}
	for i := 0; i < len(m.RsyncOpts); i++ {
		o := m.RsyncOpts[i]
		switch {
		case o == "--no-motd" || o == "-q" || o == "--quiet" || o == "-v" || o == "--verbose":
		case strings.HasPrefix(o, "--exclude="):
			m.excludes = append(m.excludes, strings.TrimPrefix(o, "--exclude="))
		case strings.HasPrefix(o, "--include="):
			m.includes = append(m.includes, strings.TrimPrefix(o, "--include="))
		case (o == "--exclude" || o == "--include") && i+1 < len(m.RsyncOpts):
			if o == "--exclude" {
				m.excludes = append(m.excludes, m.RsyncOpts[i+1])
			} else {
				m.includes = append(m.includes, m.RsyncOpts[i+1])
			}
			i++
		default:
			return fmt.Errorf("rsync_opts: %q is not supported (gpuctl copies without rsync; it honours --exclude and --include)", o)
		}
	}
	for _, p := range append(slices.Clone(m.excludes), m.includes...) {
		if _, err := path.Match(p, "x"); err != nil {
			return fmt.Errorf("rsync_opts: pattern %q: %w", p, err)
		}
	}
	return nil
}

func (m *Synchronize) opt(p *bool) bool {
	if p != nil {
		return *p
	}
	return m.Archive
}

// sides are the two connections: from (src) and to (dest).
func (m *Synchronize) sides(h modules.Host) (from, to conn.Conn, err error) {
	del := ""
	if d, ok := h.(modules.Delegator); ok {
		del = d.DelegatedTo()
	}
	switch {
	case del == "":
	case del == h.Name():
		// delegated to the host itself (kubespray: delegate_to:
		// inventory_hostname): rsync runs there, both paths are its own
		return h.Conn(), h.Conn(), nil
	default:
		return nil, nil, fmt.Errorf("synchronize delegated to %s: gpuctl copies between the controller and the host, or within the host (delegate_to: the host itself); "+
			"copying from %s to %s directly is not supported", del, del, h.Name())
	}
	if m.Mode == "pull" {
		return h.Conn(), h.Local(), nil
	}
	return h.Local(), h.Conn(), nil
}

// entry is one path of a side's listing.
type syncEntry struct {
	kind  byte // f, d, l
	mode  fs.FileMode
	uid   string
	gid   string
	size  int64
	mtime int64  // seconds, what the comparison looks at
	mtns  string // the time as find prints it, to the nanosecond
	link  string
	sum   string
}

// syncPlan is what Apply does, in order.
type syncPlan struct {
	from, to conn.Conn
	srcRoot  string
	dstRoot  string
	ops      []syncOp
}

type syncOp struct {
	rel    string
	src    syncEntry
	create bool
	data   bool // copy the content
	attrs  bool // mode/owner/time only
	remove bool
}

func (m *Synchronize) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	var d plan.Diff
	from, to, err := m.sides(h)
	if err != nil {
		return d, err
	}
	src, dest := m.Src, m.Dest
	if from == h.Local() && !filepath.IsAbs(src) {
		p, _, err := findLocal(ctx, h, "files", strings.TrimSuffix(src, "/"), true)
		if err != nil {
			return d, err
		}
		if strings.HasSuffix(src, "/") {
			p += "/"
		}
		src = p
	}
	if to == h.Local() && !filepath.IsAbs(dest) {
		if base, _ := h.Vars()["playbook_dir"].(string); base != "" {
			dest = filepath.Join(base, dest) + map[bool]string{true: "/"}[strings.HasSuffix(m.Dest, "/")]
		}
	}
	srcList, err := m.list(ctx, from, strings.TrimSuffix(src, "/"), m.opt(m.Recursive), m.CopyLinks)
	if err != nil {
		return d, fmt.Errorf("src %s: %w", src, err)
	}
	top, ok := srcList[""]
	if !ok {
		return d, fmt.Errorf("src %s does not exist", src)
	}
	// rsync's rule: a trailing slash on a source directory copies its
	// contents; without it the directory itself goes into dest. A file
	// goes into dest when dest is a directory (or ends with a slash).
	root := strings.TrimSuffix(dest, "/")
	destInfo, destErr := to.Stat(ctx, root)
	destIsDir := destErr == nil && destInfo.IsDir()
	switch {
	case top.kind == 'd' && !strings.HasSuffix(src, "/"):
		root = path.Join(root, path.Base(strings.TrimSuffix(src, "/")))
	case top.kind != 'd' && (destIsDir || strings.HasSuffix(dest, "/")):
		root = path.Join(root, path.Base(src))
	}
	if top.kind == 'd' && !m.opt(m.Recursive) && !m.Dirs {
		// rsync without -r or -d skips a directory
		m.result = map[string]any{"rc": 0, "msg": "skipping directory " + src, "cmd": m.cmd(src, root)}
		return d, nil
	}
	dstList, err := m.list(ctx, to, root, m.opt(m.Recursive), false)
	if err != nil {
		return d, fmt.Errorf("dest %s: %w", root, err)
	}
	root0 := root
	sp := &syncPlan{from: from, to: to, srcRoot: strings.TrimSuffix(src, "/"), dstRoot: root0}
	var lines []string
	for _, rel := range slices.Sorted(maps.Keys(srcList)) {
		if m.excluded(rel) {
			continue
		}
		s := srcList[rel]
		if s.kind == 'l' && !m.opt(m.Links) {
			continue // rsync without -l: "skipping non-regular file"
		}
		t, exists := dstList[rel]
		p := path.Join(root0, rel)
		if m.ExistingOnly && !exists {
			continue
		}
		op := syncOp{rel: rel, src: s}
		switch {
		case !exists:
			op.create, op.data = true, s.kind != 'd'
		case t.kind != s.kind:
			op.create, op.data = true, s.kind != 'd'
			sp.ops = append(sp.ops, syncOp{rel: rel, remove: true})
		case s.kind == 'f':
			// by content: rsync without times re-sends a file whose time
			// differs on every run; gpuctl stays idempotent
			op.data = s.size != t.size || s.sum != t.sum
		case s.kind == 'l':
			op.data = s.link != t.link
		}
		if !op.create && !op.data {
			op.attrs = m.attrsDiffer(s, t)
		}
		if !op.create && !op.data && !op.attrs {
			continue
		}
		sp.ops = append(sp.ops, op)
		act, field := plan.Update, "content"
		switch {
		case op.create:
			act, field = plan.Create, ""
		case op.attrs:
			field = "attributes"
		}
		c := plan.Change{Resource: "file:" + p, Action: act, Field: field}
		if s.kind == 'l' {
			c.After = "-> " + s.link
		}
		d.Add(c)
		lines = append(lines, itemize(op, s)+" "+rel)
	}
	if m.Delete && top.kind == 'd' {
		for _, rel := range slices.Backward(slices.Sorted(maps.Keys(dstList))) {
			if _, ok := srcList[rel]; ok || rel == "" || m.excluded(rel) {
				continue
			}
			sp.ops = append(sp.ops, syncOp{rel: rel, remove: true})
			d.Add(plan.Change{Resource: "file:" + path.Join(root0, rel), Action: plan.Delete})
			lines = append(lines, "*deleting "+rel)
		}
	}
	d.State = sp
	m.result = map[string]any{"rc": 0, "cmd": m.cmd(src, root0), "msg": strings.Join(lines, "\n"), "stdout_lines": lines}
	return d, nil
}

// cmd is the rsync command ansible.posix.synchronize would have run, for
// the registered result.
func (m *Synchronize) cmd(src, dest string) string {
	return fmt.Sprintf("(gpuctl, no rsync) %s %s -> %s", m.Mode, src, dest)
}

// itemize is rsync's --itemize-changes code for an operation.
func itemize(op syncOp, s syncEntry) string {
	kind := map[byte]string{'f': "f", 'd': "d", 'l': "L"}[s.kind]
	switch {
	case op.create && s.kind == 'd':
		return "cd+++++++++"
	case op.create:
		return ">" + kind + "+++++++++"
	case op.data:
		return ">" + kind + "cs......."
	}
	return "." + kind + "...p....."
}

func (m *Synchronize) attrsDiffer(s, t syncEntry) bool {
	if s.kind == 'l' {
		return false
	}
	if m.opt(m.Perms) && s.mode.Perm() != t.mode.Perm() {
		return true
	}
	if m.opt(m.Times) && s.kind == 'f' && s.mtime != t.mtime {
		return true
	}
	return false
}

// excluded applies rsync_opts' --include/--exclude patterns to a relative
// path's last element (or the whole path, for a pattern with a slash),
// first match wins, as rsync's filter rules do for simple patterns.
func (m *Synchronize) excluded(rel string) bool {
	if rel == "" {
		return false
	}
	match := func(p string) bool {
		p = strings.TrimSuffix(p, "/")
		if strings.Contains(p, "/") {
			ok, _ := path.Match(strings.TrimPrefix(p, "/"), rel)
			return ok
		}
		for _, el := range strings.Split(rel, "/") {
			if ok, _ := path.Match(p, el); ok {
				return true
			}
		}
		return false
	}
	for _, p := range m.includes {
		if match(p) {
			return false
		}
	}
	for _, p := range m.excludes {
		if match(p) {
			return true
		}
	}
	return false
}

// list describes root and, when recursive, everything under it, keyed by
// the path relative to root ("" for root itself). Files whose content is
// compared get their sha256.
func (m *Synchronize) list(ctx context.Context, c conn.Conn, root string, recursive, follow bool) (map[string]syncEntry, error) {
	depth := "-maxdepth 1"
	if recursive {
		depth = ""
	}
	followFlag := ""
	if follow {
		followFlag = "-L "
	}
	q := conn.Quote(root)
	cmd := fmt.Sprintf(`[ -e %[1]s ] || [ -L %[1]s ] || exit 0; find %[3]s%[1]s %[2]s -printf '%%y %%m %%U %%G %%s %%T@ %%P\0%%l\0' && printf '\1' && find %[3]s%[1]s %[2]s -type f -print0 | xargs -0 -r sha256sum -z`,
		q, depth, followFlag)
	res, err := c.Run(ctx, cmd)
	if err != nil {
		return nil, err
	}
	if !res.OK() {
		return nil, fmt.Errorf("listing: %s", strings.TrimSpace(res.Stderr))
	}
	out := map[string]syncEntry{}
	listing, sums, _ := strings.Cut(res.Stdout, "\x01")
	fields := strings.Split(listing, "\x00")
	for i := 0; i+1 < len(fields); i += 2 {
		rec, link := fields[i], fields[i+1]
		parts := strings.SplitN(rec, " ", 7)
		if len(parts) != 7 {
			continue
		}
		mode, _ := strconv.ParseUint(parts[1], 8, 32)
		size, _ := strconv.ParseInt(parts[4], 10, 64)
		secs, _, _ := strings.Cut(parts[5], ".")
		mt, _ := strconv.ParseInt(secs, 10, 64)
		kind := parts[0][0]
		if kind != 'f' && kind != 'd' && kind != 'l' {
			continue // devices, sockets, fifos: rsync skips them without -D
		}
		out[parts[6]] = syncEntry{kind: kind, mode: fs.FileMode(mode), uid: parts[2], gid: parts[3], size: size, mtime: mt, mtns: parts[5], link: link}
	}
	for _, rec := range strings.Split(sums, "\x00") {
		sum, p, ok := strings.Cut(rec, "  ")
		if !ok {
			continue
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p, root), "/")
		if e, ok := out[rel]; ok {
			e.sum = sum
			out[rel] = e
		}
	}
	return out, nil
}

func (m *Synchronize) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	sp, ok := d.State.(*syncPlan)
	if !ok {
		return errors.New("synchronize: no plan from check")
	}
	asRoot := false
	if r, err := sp.to.Run(ctx, "id -u"); err == nil && strings.TrimSpace(r.Stdout) == "0" {
		asRoot = true
	}
	var touch []string
	for _, op := range sp.ops {
		dst := path.Join(sp.dstRoot, op.rel)
		srcPath := path.Join(sp.srcRoot, op.rel)
		if op.rel == "" {
			dst, srcPath = sp.dstRoot, sp.srcRoot
		}
		if op.remove {
			if r, err := sp.to.Run(ctx, "rm -rf -- "+conn.Quote(dst)); err != nil || !r.OK() {
				return fmt.Errorf("remove %s: %v %s", dst, err, r.Stderr)
			}
			continue
		}
		s := op.src
		mode := s.mode.Perm()
		if !m.opt(m.Perms) && op.create {
			mode = map[byte]fs.FileMode{'d': 0o755, 'f': 0o644}[s.kind]
		}
		var owner, group string
		if asRoot && m.opt(m.Owner) {
			owner = s.uid
		}
		if asRoot && m.opt(m.Group) {
			group = s.gid
		}
		switch s.kind {
		case 'd':
			cmd := fmt.Sprintf("mkdir -p -- %[1]s && chmod %[2]o %[1]s", conn.Quote(dst), mode)
			if !op.create && !m.opt(m.Perms) {
				cmd = "mkdir -p -- " + conn.Quote(dst)
			}
			if r, err := sp.to.Run(ctx, cmd); err != nil || !r.OK() {
				return fmt.Errorf("directory %s: %v %s", dst, err, r.Stderr)
			}
		case 'l':
			if r, err := sp.to.Run(ctx, "ln -sfn -- "+conn.Quote(s.link)+" "+conn.Quote(dst)); err != nil || !r.OK() {
				return fmt.Errorf("symlink %s: %v %s", dst, err, r.Stderr)
			}
			continue
		case 'f':
			if op.data || op.create {
				data, err := sp.from.ReadFile(ctx, srcPath)
				if err != nil {
					return fmt.Errorf("read %s: %w", srcPath, err)
				}
				if r, err := sp.to.Run(ctx, "mkdir -p -- "+conn.Quote(path.Dir(dst))); err != nil || !r.OK() {
					return fmt.Errorf("directory of %s: %v", dst, err)
				}
				if err := sp.to.WriteFile(ctx, dst, data, conn.FileAttrs{Mode: mode, Owner: owner, Group: group}); err != nil {
					return fmt.Errorf("write %s: %w", dst, err)
				}
			} else if m.opt(m.Perms) {
				if r, err := sp.to.Run(ctx, fmt.Sprintf("chmod %o -- %s", mode, conn.Quote(dst))); err != nil || !r.OK() {
					return fmt.Errorf("chmod %s: %v", dst, err)
				}
			}
		}
		if m.opt(m.Times) && s.kind == 'f' {
			touch = append(touch, fmt.Sprintf("touch -m -d @%s -- %s", s.mtns, conn.Quote(dst)))
		}
	}
	if len(touch) > 0 {
		var b bytes.Buffer
		b.WriteString("set -e\n")
		for _, t := range touch {
			b.WriteString(t + "\n")
		}
		if r, err := sp.to.Run(ctx, b.String()); err != nil || !r.OK() {
			return fmt.Errorf("modification times: %v %s", err, r.Stderr)
		}
	}
	if m.result != nil {
		m.result["changed"] = true
	}
	return nil
}

func (m *Synchronize) Result() map[string]any { return m.result }

// Reads is the host path an earlier task may write: src when pulling.
func (m *Synchronize) Reads() []string {
	if m.Mode == "pull" {
		return []string{m.Src}
	}
	return nil
}

var (
	_ modules.Module   = (*Synchronize)(nil)
	_ modules.Resulter = (*Synchronize)(nil)
	_ modules.Reader   = (*Synchronize)(nil)
)
