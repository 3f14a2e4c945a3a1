package ssh

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/gpuctl/gpuctl/conn"
)

// idCache maps user and group ids to names on the host. The full databases
// are read once per connection; an id or name not found (a user a task
// created a moment ago, a directory-service account that getent does not
// enumerate) is looked up on its own and never cached as missing.
type idCache struct {
	mu     sync.Mutex
	loaded bool
	users  idMap
	groups idMap
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

func (c *idCache) load(ctx context.Context, r conn.Conn) error {
	if c.loaded {
		return nil
	}
	out, err := conn.Output(ctx, r, "(getent passwd || cat /etc/passwd); echo "+idSeparator+"; (getent group || cat /etc/group)")
	if err != nil {
		return fmt.Errorf("read user and group names: %w", err)
	}
	pw, gr, _ := strings.Cut(out, idSeparator)
	c.users.parse(pw)
	c.groups.parse(gr)
	c.loaded = true
	return nil
}

// lookup asks getent for one key of db (passwd or group).
func (c *idCache) lookup(ctx context.Context, r conn.Conn, db, key string) error {
	res, err := r.Run(ctx, conn.Join("getent", db, key))
	if err != nil {
		return err
	}
	m := &c.users
	if db == "group" {
		m = &c.groups
	}
	m.parse(res.Stdout)
	return nil
}

func (c *idCache) name(ctx context.Context, r conn.Conn, db string, id uint32) (string, error) {
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

func (c *idCache) userName(ctx context.Context, r conn.Conn, uid uint32) (string, error) {
	return c.name(ctx, r, "passwd", uid)
}

func (c *idCache) groupName(ctx context.Context, r conn.Conn, gid uint32) (string, error) {
	return c.name(ctx, r, "group", gid)
}

// id resolves a user or group name (or a number) to its id.
func (c *idCache) id(ctx context.Context, r conn.Conn, db, name string) (int, error) {
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
func (c *idCache) resolveOwner(ctx context.Context, r conn.Conn, owner, group string) (uid, gid int, err error) {
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
