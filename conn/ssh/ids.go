package ssh

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/gpuctl/gpuctl/conn"
)

// idCache maps user and group ids to names on the host. /etc/passwd and
// /etc/group are read over SFTP (no process); an id or name not in them is
// looked up with getent, for directory-service accounts, after checking
// whether the files changed since they were read (a user a task created a
// moment ago). getent's misses are remembered until the files change, so a
// tree of files owned by a uid without a name costs one process, not one
// per file.
type idCache struct {
	mu     sync.Mutex
	loaded bool
	stamp  string // size and mtime of the files when read
	users  idMap
	groups idMap
	missed map[string]bool // "db key" getent did not know
}

type idMap struct {
	byID   map[uint32]string
	byName map[string]uint32
}

func (m *idMap) add(name string, id uint32) {
	if m.byID == nil {
		m.byID, m.byName = map[uint32]string{}, map[string]uint32{}
	}
	if _, dup := m.byID[id]; !dup {
		m.byID[id] = name
	}
	m.byName[name] = id
}

// parse reads getent/passwd-style lines: name:x:id:...
func (m *idMap) parse(text string) {
	for _, line := range strings.Split(text, "\n") {
		f := strings.SplitN(line, ":", 4)
		if len(f) < 3 {
			continue
		}
		if id, err := strconv.ParseUint(f[2], 10, 32); err == nil {
			m.add(f[0], uint32(id))
		}
	}
}

const idSeparator = "--gpuctl-groups--"

var idFiles = []string{"/etc/passwd", "/etc/group"}

func (c *idCache) load(ctx context.Context, r *Conn) error {
	if c.loaded {
		return nil
	}
	return c.read(ctx, r)
}

// read (re)reads the databases, over SFTP when the files are readable, else
// with one getent command.
func (c *idCache) read(ctx context.Context, r *Conn) error {
	stamp, err := c.filesStamp(ctx, r)
	var pw, gr []byte
	if err == nil {
		if pw, err = r.ReadFile(ctx, idFiles[0]); err == nil {
			gr, err = r.ReadFile(ctx, idFiles[1])
		}
	}
	if err != nil {
		out, err := conn.Output(ctx, r, "(getent passwd || cat /etc/passwd); echo "+idSeparator+"; (getent group || cat /etc/group)")
		if err != nil {
			return fmt.Errorf("read user and group names: %w", err)
		}
		p, g, _ := strings.Cut(out, idSeparator)
		pw, gr = []byte(p), []byte(g)
	}
	c.users, c.groups, c.missed = idMap{}, idMap{}, map[string]bool{}
	c.users.parse(string(pw))
	c.groups.parse(string(gr))
	c.loaded, c.stamp = true, stamp
	return nil
}

// filesStamp is the size and mtime of both files, to tell whether they
// changed since read.
func (c *idCache) filesStamp(ctx context.Context, r *Conn) (string, error) {
	cl, err := r.sftpClient()
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, f := range idFiles {
		fi, err := cl.Stat(f)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "%d %d;", fi.Size(), fi.ModTime().UnixNano())
	}
	return b.String(), nil
}

// lookup finds a key the maps lack: the files again when they changed,
// else getent for one key of db (passwd or group), once per key.
func (c *idCache) lookup(ctx context.Context, r *Conn, db, key string) error {
	if stamp, err := c.filesStamp(ctx, r); err != nil || stamp != c.stamp {
		if err := c.read(ctx, r); err != nil {
			return err
		}
		if c.has(db, key) {
			return nil
		}
	}
	if c.missed[db+" "+key] {
		return nil
	}
	res, err := r.Run(ctx, conn.Join("getent", db, key))
	if err != nil {
		return err
	}
	m := &c.users
	if db == "group" {
		m = &c.groups
	}
	m.parse(res.Stdout)
	if !c.has(db, key) {
		c.missed[db+" "+key] = true
	}
	return nil
}

// has reports whether key (a name or an id) of db is known.
func (c *idCache) has(db, key string) bool {
	m := &c.users
	if db == "group" {
		m = &c.groups
	}
	if id, err := strconv.ParseUint(key, 10, 32); err == nil {
		_, ok := m.byID[uint32(id)]
		return ok
	}
	_, ok := m.byName[key]
	return ok
}

func (c *idCache) name(ctx context.Context, r *Conn, db string, id uint32) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.load(ctx, r); err != nil {
		return "", err
	}
	m := &c.users
	if db == "group" {
		m = &c.groups
	}
	if n, ok := m.byID[id]; ok {
		return n, nil
	}
	if err := c.lookup(ctx, r, db, strconv.FormatUint(uint64(id), 10)); err != nil {
		return "", err
	}
	if n, ok := m.byID[id]; ok {
		return n, nil
	}
	// Like ls, show the number for an id without a name.
	return strconv.FormatUint(uint64(id), 10), nil
}

func (c *idCache) userName(ctx context.Context, r *Conn, uid uint32) (string, error) {
	return c.name(ctx, r, "passwd", uid)
}

func (c *idCache) groupName(ctx context.Context, r *Conn, gid uint32) (string, error) {
	return c.name(ctx, r, "group", gid)
}

// id resolves a user or group name (or a number) to its id.
func (c *idCache) id(ctx context.Context, r *Conn, db, name string) (int, error) {
	if n, err := strconv.ParseUint(name, 10, 32); err == nil {
		return int(n), nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.load(ctx, r); err != nil {
		return 0, err
	}
	m := &c.users
	kind := "user"
	if db == "group" {
		m, kind = &c.groups, "group"
	}
	if id, ok := m.byName[name]; ok {
		return int(id), nil
	}
	if err := c.lookup(ctx, r, db, name); err != nil {
		return 0, err
	}
	if id, ok := m.byName[name]; ok {
		return int(id), nil
	}
	return 0, fmt.Errorf("unknown %s %q on the host", kind, name)
}

// resolveOwner returns the ids for owner and group, -1 for an empty one.
func (c *idCache) resolveOwner(ctx context.Context, r *Conn, owner, group string) (uid, gid int, err error) {
	uid, gid = -1, -1
	if owner != "" {
		if uid, err = c.id(ctx, r, "passwd", owner); err != nil {
			return 0, 0, err
		}
	}
	if group != "" {
		if gid, err = c.id(ctx, r, "group", group); err != nil {
			return 0, 0, err
		}
	}
	return uid, gid, nil
}
