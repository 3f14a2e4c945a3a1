package generic_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/modules/moduletest"
	"github.com/gpuctl/gpuctl/plan"
)

// file's follow, as ansible-core 2.14 does it (checked by hand with
// `ansible -m file` on the same kind of tree): by default mode, owner and
// group go to what a link points to, for state=link and for a link met by
// state=file, directory, touch or no state; follow: false keeps them on the
// link itself (owner and group only) and refuses file and directory.
func TestFileFollow(t *testing.T) {
	dir := t.TempDir()
	h := moduletest.Local()
	ctx := context.Background()
	cnf := filepath.Join(dir, "mysql", "my.cnf")
	write(t, cnf, "[mysqld]\n", 0o644)
	link := filepath.Join(dir, "my.cnf")
	if err := os.Symlink("mysql/my.cnf", link); err != nil {
		t.Fatal(err)
	}

	// devsec mysql_hardening's "Protect my.cnf": state=file, follow: true.
	d := moduletest.Timeline(t, h, dir, "file", map[string]any{"path": link, "mode": "0640", "follow": true, "state": "file"})
	hasChange(t, d, plan.Update, "mode")
	if perm(t, cnf) != 0o640 {
		t.Errorf("target mode %v", perm(t, cnf))
	}
	// follow: false refuses state=file and state=directory on a link.
	for _, st := range []string{"file", "directory"} {
		m := moduletest.New(t, "file", map[string]any{"path": link, "mode": "0600", "follow": false, "state": st})
		if _, err := m.Check(ctx, h); err == nil || !strings.Contains(err.Error(), "link") {
			t.Errorf("state=%s follow=false on a link: %v", st, err)
		}
	}
	// No state on a link: the link is kept and, following it, the target
	// gets the mode.
	moduletest.Timeline(t, h, dir, "file", map[string]any{"path": link, "mode": "0600"})
	if perm(t, cnf) != 0o600 {
		t.Errorf("target mode %v", perm(t, cnf))
	}
	// state=link: the new link's target gets the mode; the link stays a link.
	link2 := filepath.Join(dir, "my2.cnf")
	d = moduletest.Timeline(t, h, dir, "file", map[string]any{"path": link2, "src": cnf, "state": "link", "mode": "0644"})
	hasChange(t, d, plan.Create, "link")
	if got, _ := os.Readlink(link2); got != cnf || perm(t, cnf) != 0o644 {
		t.Errorf("link -> %q, target mode %v", got, perm(t, cnf))
	}
	// follow: false: the mode of a link means nothing and is left out.
	moduletest.NoChange(t, h, "file", map[string]any{"path": link2, "src": cnf, "state": "link", "mode": "0600", "follow": false})
	if perm(t, cnf) != 0o644 {
		t.Errorf("follow: false changed the target: %v", perm(t, cnf))
	}
	// A link to nothing (force) gets no attributes, with Ansible's warning.
	dangling := filepath.Join(dir, "dangling")
	d = moduletest.Timeline(t, h, dir, "file", map[string]any{"path": dangling, "src": "nowhere", "state": "link", "force": true, "mode": "0600"})
	if len(d.Notes) == 0 || !strings.Contains(d.Notes[0], "non-existent symlink target") {
		t.Errorf("notes %v", d.Notes)
	}

	if os.Getuid() != 0 {
		t.Skip("owner: needs root")
	}
	// Ownership: follow: false owns the link itself, the default its target.
	moduletest.Timeline(t, h, dir, "file", map[string]any{"path": link2, "src": cnf, "state": "link", "owner": "nobody", "follow": false})
	if uid, _ := owner(t, link2); uid != 65534 {
		t.Errorf("link owner %d", uid)
	}
	if uid, _ := owner(t, cnf); uid != 0 {
		t.Errorf("target owner %d", uid)
	}
	moduletest.Timeline(t, h, dir, "file", map[string]any{"path": link2, "src": cnf, "state": "link", "owner": "daemon"})
	if uid, _ := owner(t, cnf); uid != 1 {
		t.Errorf("target owner %d, want daemon", uid)
	}
	// touch with follow: false: the link's own owner.
	moduletest.Timeline(t, h, dir, "file", map[string]any{"path": link, "state": "touch", "owner": "nobody", "group": "nogroup",
		"follow": false, "modification_time": "preserve", "access_time": "preserve"})
	if uid, gid := owner(t, link); uid != 65534 || gid != 65534 {
		t.Errorf("link owner %d:%d", uid, gid)
	}
}
