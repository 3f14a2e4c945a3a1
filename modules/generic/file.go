package generic

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/internal/fileplan"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:    "file",
		Summary: "Manage a path's type and attributes: directory, empty file, symlink, or absent",
		CheckMode: "Stats the path (and with recurse, everything under it; with follow, what a symlink points to) " +
			"and reports what would be created, removed, relinked or have its mode/owner/group changed. Changes nothing.",
		Example: `- name: Directory for the model server
  file:
    path: /var/lib/gpuctl/models
    state: directory
    owner: root
    mode: "0755"`,
		New: func() modules.Module { return &File{} },
	})
}

// File manages what a path is, not what it contains.
type File struct {
	Path       string `yaml:"path" doc:"absolute path to manage (required)"`
	PathAlias  `yaml:",squash"`
	State      string `yaml:"state" choices:"file,directory,absent,link,touch" doc:"file: must exist, manage attributes; directory: create with parents; absent: remove recursively; link: symlink to src; touch: create empty or update times; unset keeps the path's current type"`
	Src        string `yaml:"src" doc:"target of the symlink (state=link); a relative target is relative to the link's directory"`
	Attrs      `yaml:",squash"`
	Recurse    bool   `yaml:"recurse" doc:"with state=directory, apply mode/owner/group to everything inside too"`
	Force      bool   `yaml:"force" doc:"with state=link, replace a file or empty directory at path, and allow a src that does not exist"`
	Follow     bool   `yaml:"follow" default:"true" doc:"when path is (or becomes) a symlink, set mode, owner and group on what it points to; false: on the link itself (its owner and group; a link's mode means nothing on Linux), and state=file or directory then refuse a link"`
	Attributes string `yaml:"attributes" aliases:"attr" doc:"file flags as chattr takes them: \"+i\" adds, \"-i\" removes, \"i\" sets exactly (lsattr's letters)"`
	MTime      string `yaml:"modification_time" choices:"now,preserve" doc:"with state=touch: now (default) or preserve an existing file's time"`
	ATime      string `yaml:"access_time" choices:"now,preserve" doc:"with state=touch: now (default) or preserve an existing file's time"`

	state string // the effective state, after "keep current type"
}

// Provision takes path from its aliases and drops a trailing slash.
func (m *File) Provision() {
	m.PathAlias.fill(&m.Path)
	if m.Path != "/" {
		m.Path = strings.TrimSuffix(m.Path, "/")
	}
}

func (m *File) Validate() error {
	if err := m.PathAlias.check(m.Path); err != nil {
		return err
	}
	if err := absPath("path", m.Path); err != nil {
		return err
	}
	if m.Attributes != "" {
		if _, _, err := parseAttributes(m.Attributes); err != nil {
			return err
		}
	}
	switch {
	case m.State == "link" && m.Src == "":
		return errors.New("state=link needs src")
	case m.State != "link" && m.Src != "":
		return errors.New("src is only used with state=link")
	case m.Recurse && m.State != "directory":
		return errors.New("recurse needs state=directory")
	case (m.MTime != "" || m.ATime != "") && m.State != "touch":
		return errors.New("modification_time and access_time need state=touch")
	case m.Attributes != "" && m.State == "absent":
		return errors.New("attributes make no sense with state=absent")
	case m.State == "absent" && (m.Mode != "" || m.Owner != "" || m.Group != ""):
		return errors.New("mode, owner and group make no sense with state=absent")
	case m.Path == "/" && m.State == "absent":
		return errors.New("refusing to remove /")
	}
	return m.Attrs.validate()
}

func (m *File) Reads() []string {
	if m.State == "link" {
		return []string{m.Path, m.target()}
	}
	return []string{m.Path}
}

func (m *File) Result() map[string]any { return map[string]any{"path": m.Path, "state": m.state} }

// Unverified: touching an existing file is a change every time, as in
// Ansible, so a second check would rightly report it again.
func (m *File) Unverified() bool {
	return m.State == "touch" && !(m.MTime == "preserve" && m.ATime == "preserve")
}

// target is src resolved against the link's directory, for existence tests.
func (m *File) target() string {
	if path.IsAbs(m.Src) {
		return m.Src
	}
	return path.Join(path.Dir(m.Path), m.Src)
}

// fileOp is what Apply does, decided by Check.
type fileOp struct {
	remove  bool
	mkdir   bool
	create  bool // empty file
	link    bool // (re)create the symlink
	rmdir   bool // an empty directory stands where the link goes
	touch   string
	fix     attrFix
	fixPath string // where fix applies (the link target for state=file on a link)
	// timesPath is where touch sets times: path, or what it points to.
	timesPath string
	rec       *recursiveFix
	// chattr is the attributes argument to apply ("" for none); first when
	// it clears immutable or append-only, which would refuse the rest
	chattr      string
	chattrFirst bool
}

func (m *File) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	d, err := m.check(ctx, h)
	if err != nil || m.Attributes == "" || m.state == "absent" || m.state == "link" && !m.Follow {
		return d, err
	}
	op, ok := d.State.(*fileOp)
	if !ok {
		return d, nil
	}
	return d, m.checkAttributes(ctx, h, op, &d)
}

func (m *File) check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	if err := expandHome(ctx, h, &m.Path, &m.Src); err != nil {
		return plan.Diff{}, err
	}
	var d plan.Diff
	res := "file:" + m.Path
	fi, exists, err := stat(ctx, h, m.Path)
	if err != nil {
		return d, err
	}
	m.state = m.State
	if m.state == "" {
		switch {
		case !exists:
			return d, fmt.Errorf("%s does not exist (give state to create it)", m.Path)
		case fi.IsDir():
			m.state = "directory"
		case fi.IsLink():
			m.state = "link"
			m.Src = fi.Link
		default:
			m.state = "file"
		}
	}
	op := &fileOp{fixPath: m.Path, timesPath: m.Path}
	d.State = op
	if exists && fi.IsLink() && (m.state == "file" || m.state == "directory" || m.state == "touch") {
		if !m.Follow {
			return d, m.checkLinkItself(ctx, h, fi, res, &d)
		}
		// Ansible follows a link and manages what it points to
		// (/var/lib/containerd -> /data/containerd is common).
		if op.fixPath, fi, err = follow(ctx, h, m.Path, fi); err != nil {
			return d, err
		}
		op.timesPath = op.fixPath
	}
	switch m.state {
	case "absent":
		if exists {
			op.remove = true
			d.Add(plan.Change{Resource: res, Action: plan.Delete, Field: "state", Before: kind(fi), After: "absent"})
		}
		return d, nil
	case "directory":
		if !exists {
			op.mkdir = true
			d.Add(plan.Change{Resource: res, Action: plan.Create, Field: "state", After: "directory"})
			return d, newAttrs(m.Attrs, 0o755, true, res, &d)
		}
		if !fi.IsDir() {
			return d, fmt.Errorf("%s exists and is a %s, not a directory", m.Path, kind(fi))
		}
		if m.Recurse {
			op.rec, err = m.checkRecursive(ctx, h, op.fixPath, res, &d)
			return d, err
		}
	case "file":
		if !exists {
			return d, fmt.Errorf("%s does not exist; state=file does not create files (use state=touch or copy)", m.Path)
		}
		if fi.IsDir() {
			return d, fmt.Errorf("%s is a directory, not a file", m.Path)
		}
	case "touch":
		if !exists {
			op.create = true
			d.Add(plan.Change{Resource: res, Action: plan.Create, Field: "state", After: "file"})
			return d, newAttrs(m.Attrs, 0o644, false, res, &d)
		}
		if flags := m.touchFlags(); flags != "" {
			op.touch = flags
			d.Add(plan.Change{Resource: res, Action: plan.Update, Field: "mtime",
				Before: fi.ModTime.UTC().Format(time.RFC3339), After: "now"})
		}
	case "link":
		if err := m.checkLink(ctx, h, fi, exists, op, res, &d); err != nil {
			return d, err
		}
		if m.Follow {
			return d, m.checkLinkTarget(ctx, h, op, &d)
		}
		if op.link {
			// A new link gets the asked-for owner after it is made.
			op.fix = attrFix{Owner: m.Owner, Group: m.Group}
			for _, c := range [][2]string{{"owner", m.Owner}, {"group", m.Group}} {
				if c[1] != "" {
					d.Add(plan.Change{Resource: res, Action: plan.Create, Field: c[0], After: c[1]})
				}
			}
			return d, nil
		}
		// An existing correct link: only its ownership can differ; a
		// link's own mode means nothing on Linux.
		a := m.Attrs
		a.Mode = ""
		op.fix, err = diffAttrs(ctx, h, fi, a, res, &d)
		return d, err
	}
	op.fix, err = diffAttrs(ctx, h, fi, m.Attrs, res, &d)
	return d, err
}

// follow resolves a chain of symlinks to the final path and its info.
func follow(ctx context.Context, h modules.Host, p string, fi conn.FileInfo) (string, conn.FileInfo, error) {
	for range 16 {
		if !fi.IsLink() {
			return p, fi, nil
		}
		target := fi.Link
		if !path.IsAbs(target) {
			target = path.Join(path.Dir(p), target)
		}
		next, ok, err := stat(ctx, h, target)
		if err != nil {
			return "", fi, err
		}
		if !ok {
			return "", fi, fmt.Errorf("%s is a dangling symlink to %s", p, target)
		}
		p, fi = target, next
	}
	return "", fi, fmt.Errorf("%s: too many levels of symlinks", p)
}

// newAttrs reports the attributes a path being created will get.
func newAttrs(a Attrs, base uint32, isDir bool, res string, d *plan.Diff) error {
	return fileplan.NewAttrs(res, a.plan(), fromUnix(base), isDir, d)
}

func (m *File) touchFlags() string {
	switch {
	case m.MTime == "preserve" && m.ATime == "preserve":
		return ""
	case m.MTime == "preserve":
		return "-a"
	case m.ATime == "preserve":
		return "-m"
	}
	return "-am"
}

func (m *File) checkLink(ctx context.Context, h modules.Host, fi conn.FileInfo, exists bool, op *fileOp, res string, d *plan.Diff) error {
	if !m.Force {
		if _, ok, err := stat(ctx, h, m.target()); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("link %s: src %s does not exist (set force: true to link anyway)", m.Path, m.target())
		}
	}
	switch {
	case !exists:
		op.link = true
		d.Add(plan.Change{Resource: res, Action: plan.Create, Field: "link", After: m.Src})
	case fi.IsLink():
		if fi.Link != m.Src {
			op.link = true
			d.Add(plan.Change{Resource: res, Action: plan.Update, Field: "link", Before: fi.Link, After: m.Src})
		}
	case !m.Force:
		return fmt.Errorf("%s exists and is a %s; set force: true to replace it with a link", m.Path, kind(fi))
	case fi.IsDir():
		empty, err := emptyDir(ctx, h, m.Path)
		if err != nil {
			return fmt.Errorf("link %s: %w", m.Path, err)
		}
		if !empty {
			return fmt.Errorf("%s is a directory that is not empty; refusing to replace it with a link", m.Path)
		}
		op.link, op.rmdir = true, true
		d.Add(plan.Change{Resource: res, Action: plan.Replace, Field: "link", Before: "directory", After: m.Src})
	default:
		op.link = true
		d.Add(plan.Change{Resource: res, Action: plan.Replace, Field: "link", Before: kind(fi), After: m.Src})
	}
	return nil
}

// checkLinkTarget is state=link with follow (Ansible's default): mode,
// owner and group belong to what the link points to, once it is made. A
// target that does not exist (force) gets none, with Ansible's warning.
func (m *File) checkLinkTarget(ctx context.Context, h modules.Host, op *fileOp, d *plan.Diff) error {
	if m.Mode == "" && m.Owner == "" && m.Group == "" {
		return nil
	}
	tfi, ok, err := stat(ctx, h, m.target())
	if err != nil {
		return err
	}
	tp := m.target()
	if ok && tfi.IsLink() {
		if tp, tfi, err = follow(ctx, h, tp, tfi); err != nil {
			ok = false
		}
	}
	if !ok {
		d.Note("Cannot set fs attributes on a non-existent symlink target. follow should be set to False to avoid this.")
		return nil
	}
	op.fixPath = tp
	op.fix, err = diffAttrs(ctx, h, tfi, m.Attrs, "file:"+tp, d)
	return err
}

// checkLinkItself is state=file, directory or touch with follow: false on
// a path that is a symlink: Ansible refuses file and directory; touch sets
// the link's own owner and group (its mode means nothing on Linux), and
// its times on what it points to, as Python's utime does.
func (m *File) checkLinkItself(ctx context.Context, h modules.Host, fi conn.FileInfo, res string, d *plan.Diff) error {
	switch m.state {
	case "file":
		return fmt.Errorf("file (%s) is link, cannot continue (follow: false does not manage what it points to)", m.Path)
	case "directory":
		return fmt.Errorf("%s already exists as a link (follow: false does not manage what it points to)", m.Path)
	}
	op := d.State.(*fileOp)
	if flags := m.touchFlags(); flags != "" {
		target, tfi, err := follow(ctx, h, m.Path, fi)
		if err != nil {
			return err
		}
		op.touch, op.timesPath = flags, target
		d.Add(plan.Change{Resource: res, Action: plan.Update, Field: "mtime",
			Before: tfi.ModTime.UTC().Format(time.RFC3339), After: "now"})
	}
	a := m.Attrs
	if a.Mode != "" {
		d.Note("mode is left out: a symlink's own mode means nothing on Linux (follow: false)")
		a.Mode = ""
	}
	var err error
	op.fix, err = diffAttrs(ctx, h, fi, a, res, d)
	return err
}

func kind(fi conn.FileInfo) string {
	switch {
	case fi.IsDir():
		return "directory"
	case fi.IsLink():
		return "link to " + fi.Link
	case fi.Mode.IsRegular():
		return "file"
	}
	return "special file"
}

func (m *File) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	if d.Empty() {
		return nil // Check found nothing to do
	}
	op, err := modules.StateOf[*fileOp](h, "file", d)
	if err != nil {
		return err
	}
	if op.chattr != "" && op.chattrFirst {
		if err := chattr(ctx, h, op.chattr, op.fixPath); err != nil {
			return err
		}
	}
	if err := m.apply(ctx, h, op); err != nil {
		return err
	}
	if op.chattr != "" && !op.chattrFirst {
		return chattr(ctx, h, op.chattr, op.fixPath)
	}
	return nil
}

func (m *File) apply(ctx context.Context, h modules.Host, op *fileOp) error {
	c := h.Conn()
	switch {
	case op.remove:
		return conn.RemoveAll(ctx, c, m.Path)
	case op.mkdir:
		return m.mkdir(ctx, h)
	case op.create:
		attrs, err := m.newFileAttrs()
		if err != nil {
			return err
		}
		return c.WriteFile(ctx, m.Path, nil, attrs)
	case op.link:
		if op.rmdir {
			if err := conn.Remove(ctx, c, m.Path); err != nil {
				return err
			}
		}
		if err := conn.Symlink(ctx, c, m.Src, m.Path); err != nil {
			return err
		}
	case op.touch == "-am":
		now := time.Now()
		if err := conn.Chtimes(ctx, c, op.timesPath, now, now); err != nil {
			return err
		}
	case op.touch != "":
		// Keeping one of the times exactly needs touch: SFTP carries
		// whole seconds.
		if err := run(ctx, h, conn.Join("touch", op.touch, "--", op.timesPath)); err != nil {
			return err
		}
	}
	if op.rec != nil {
		if err := op.rec.apply(ctx, h, op.fixPath); err != nil {
			return err
		}
	}
	return applyAttrs(ctx, h, op.fixPath, op.fix)
}

func (m *File) newFileAttrs() (conn.FileAttrs, error) {
	mode, err := m.Mode.Apply(0o644, false)
	return conn.FileAttrs{Mode: mode, Owner: m.Owner, Group: m.Group}, err
}

// mkdir creates the directory and any missing parents, and gives each one
// it created the asked-for attributes, as Ansible does.
func (m *File) mkdir(ctx context.Context, h modules.Host) error {
	missing, err := conn.MkdirAll(ctx, h.Conn(), m.Path)
	if err != nil {
		return err
	}
	mode, err := m.Mode.Apply(0o755, true)
	if err != nil {
		return err
	}
	fix := attrFix{Owner: m.Owner, Group: m.Group, Mode: mode, Chmod: m.Mode != ""}
	for _, p := range missing {
		if err := applyAttrs(ctx, h, p, fix); err != nil {
			return err
		}
	}
	return nil
}

// emptyDir reports whether the directory p has no entries: one SFTP round
// trip, or find where the connection has no file operations.
func emptyDir(ctx context.Context, h modules.Host, p string) (bool, error) {
	entries, err := conn.ReadDir(ctx, h.Conn(), p)
	if err == nil {
		return len(entries) == 0, nil
	}
	if !errors.Is(err, conn.ErrNotSupported) {
		return false, err
	}
	out, err := conn.Output(ctx, h.Conn(), conn.Join("find", p, "-maxdepth", "0", "-empty"))
	return out != "", err
}

var (
	_ modules.Module     = (*File)(nil)
	_ modules.Reader     = (*File)(nil)
	_ modules.Resulter   = (*File)(nil)
	_ modules.Unverified = (*File)(nil)
)
