package generic

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"strconv"
	"strings"

	"github.com/gpuctl/gpuctl/modules"
)

// The user, group and authorized_key modules read the account databases
// as files (over SFTP where the connection has it), so a check starts no
// process on the host; they change them with shadow's own tools (useradd,
// usermod, groupadd...), as Ansible does, which keep the files and their
// locks consistent.

// passwdEntry is one line of /etc/passwd.
type passwdEntry struct {
	Name, Comment, Home, Shell string
	UID, GID                   int
}

// groupEntry is one line of /etc/group.
type groupEntry struct {
	Name    string
	GID     int
	Members []string
}

// accountDB is what the host's /etc/passwd and /etc/group say.
type accountDB struct {
	users  []passwdEntry
	groups []groupEntry
}

// accountName is what shadow's tools accept (without their
// --badname escape hatch).
var accountName = regexp.MustCompile(`^[a-z_][a-z0-9_.-]*\$?$`)

func validAccountName(kind, name string) error {
	if len(name) > 32 || !accountName.MatchString(name) {
		return fmt.Errorf("%s name %q: expected lower-case letters, digits, '_', '.' or '-', starting with a letter or '_', at most 32 characters", kind, name)
	}
	return nil
}

func readAccounts(ctx context.Context, h modules.Host) (*accountDB, error) {
	db := &accountDB{}
	pw, err := h.Conn().ReadFile(ctx, "/etc/passwd")
	if err != nil {
		return nil, fmt.Errorf("read /etc/passwd: %w", err)
	}
	for _, f := range colonLines(string(pw), 7) {
		uid, err1 := strconv.Atoi(f[2])
		gid, err2 := strconv.Atoi(f[3])
		if err1 != nil || err2 != nil {
			continue // NIS "+" lines and the like
		}
		db.users = append(db.users, passwdEntry{Name: f[0], UID: uid, GID: gid, Comment: f[4], Home: f[5], Shell: f[6]})
	}
	gr, err := h.Conn().ReadFile(ctx, "/etc/group")
	if err != nil {
		return nil, fmt.Errorf("read /etc/group: %w", err)
	}
	for _, f := range colonLines(string(gr), 4) {
		gid, err := strconv.Atoi(f[2])
		if err != nil {
			continue
		}
		g := groupEntry{Name: f[0], GID: gid}
		if f[3] != "" {
			g.Members = strings.Split(f[3], ",")
		}
		db.groups = append(db.groups, g)
	}
	return db, nil
}

// colonLines splits a colon-separated database into lines of at least n
// fields, skipping blank and comment lines.
func colonLines(text string, n int) [][]string {
	var out [][]string
	for _, l := range strings.Split(text, "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		f := strings.Split(l, ":")
		if len(f) >= n {
			out = append(out, f)
		}
	}
	return out
}

func (db *accountDB) user(name string) (passwdEntry, bool) {
	for _, u := range db.users {
		if u.Name == name {
			return u, true
		}
	}
	return passwdEntry{}, false
}

// group finds a group by name or, as shadow's tools accept, by number.
func (db *accountDB) group(name string) (groupEntry, bool) {
	for _, g := range db.groups {
		if g.Name == name {
			return g, true
		}
	}
	if n, err := strconv.Atoi(name); err == nil {
		for _, g := range db.groups {
			if g.GID == n {
				return g, true
			}
		}
	}
	return groupEntry{}, false
}

// memberOf lists the groups that name user as a member, in file order.
func (db *accountDB) memberOf(user string) []string {
	var out []string
	for _, g := range db.groups {
		for _, m := range g.Members {
			if m == user {
				out = append(out, g.Name)
				break
			}
		}
	}
	return out
}

// shadowHash returns user's password field in /etc/shadow.
func shadowHash(ctx context.Context, h modules.Host, user string) (string, error) {
	f, _, err := shadowFields(ctx, h, user)
	if len(f) < 2 {
		return "", err
	}
	return f[1], err
}

// shadowFields returns user's line of /etc/shadow split at ':' (name,
// hash, last change, min, max, warn, inactive, expire, reserved), and
// whether there is one.
func shadowFields(ctx context.Context, h modules.Host, user string) ([]string, bool, error) {
	b, err := h.Conn().ReadFile(ctx, "/etc/shadow")
	if errors.Is(err, fs.ErrPermission) {
		return nil, false, fmt.Errorf("read /etc/shadow: %w (reading a password or its ageing needs root: become: true)", err)
	}
	if err != nil {
		return nil, false, fmt.Errorf("read /etc/shadow: %w", err)
	}
	for _, f := range colonLines(string(b), 2) {
		if f[0] == user {
			return f, true, nil
		}
	}
	return nil, false, nil
}
