// Package facts is what gpuctl knows about a host: typed facts, each defined
// once as a command or a file plus a parser, gathered lazily, cached per host
// for the run and dropped when a task changes the host. The engine gathers
// the base facts (and every registered family's) with one remote process;
// ansible.go maps them to the names Ansible content reads.
//
// After pyinfra's FactBase[T]: a fact is data, so it is tested on recorded
// outputs (testdata/) without a host.
package facts

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"

	"github.com/gpuctl/gpuctl/conn"
)

// Fact defines one fact: where it comes from and how to read it. Exactly one
// of Cmd and File is set.
type Fact[T any] struct {
	Name string
	// Cmd is a shell command; Parse reads its stdout whatever its exit
	// status, so a command that may be missing prints nothing and Parse
	// returns the zero value (containerd --version on a fresh host).
	Cmd string
	// File is read over the connection's file channel (SFTP): no remote
	// process. A missing file gives Default.
	File string
	// Parse turns the output into the fact.
	Parse func([]byte) (T, error)
	// Default is the value when File does not exist.
	Default T
}

// Def is any Fact, for gathering several facts of different types in one
// process (Gather) and for registering them.
type Def interface {
	FactName() string
	script() string
	file() string
	parse(out []byte, missing bool) (any, error)
}

// FactName returns the fact's name, its cache key.
func (f *Fact[T]) FactName() string { return f.Name }

// script is the shell that prints the fact's raw output, for Gather.
func (f *Fact[T]) script() string {
	if f.File != "" {
		// cat's failure marks a missing file, so Default applies as in Get.
		return "cat " + conn.Quote(f.File) + " 2>/dev/null || echo " + missingMark
	}
	return f.Cmd
}

// file is the path of a file fact, "" for a command.
func (f *Fact[T]) file() string { return f.File }

func (f *Fact[T]) parse(out []byte, missing bool) (any, error) {
	if missing {
		return f.Default, nil
	}
	v, err := f.Parse(out)
	if err != nil {
		return v, &ParseError{Fact: f.Name, Err: err}
	}
	return v, nil
}

// ParseError is a fact whose output did not parse. It is cached like a value:
// reading the same output again would fail the same way.
type ParseError struct {
	Fact string
	Err  error
}

func (e *ParseError) Error() string { return "fact " + e.Fact + ": " + e.Err.Error() }
func (e *ParseError) Unwrap() error { return e.Err }

// Host is what facts need of a host: a connection. modules.Host is one.
type Host interface {
	Conn() conn.Conn
}

// Cacher is a Host that keeps a Cache for the run (the engine's hosts). Hosts
// without one (tests' fakes) read the fact every time.
type Cacher interface {
	FactCache() *Cache
}

// Cache holds one host's facts for a run. It is safe for concurrent use.
type Cache struct {
	mu   sync.Mutex
	vals map[string]entry
}

type entry struct {
	v   any
	err error
}

// NewCache returns an empty cache.
func NewCache() *Cache { return &Cache{vals: map[string]entry{}} }

// Invalidate drops every fact: the engine calls it after a task changed the
// host, so the next Get measures again.
func (c *Cache) Invalidate() {
	c.mu.Lock()
	clear(c.vals)
	c.mu.Unlock()
}

func (c *Cache) load(name string) (entry, bool) {
	if c == nil {
		return entry{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.vals[name]
	return e, ok
}

func (c *Cache) store(name string, e entry) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.vals[name] = e
	c.mu.Unlock()
}

func cacheOf(h Host) *Cache {
	if c, ok := h.(Cacher); ok {
		return c.FactCache()
	}
	return nil
}

// Get returns the fact, from the host's cache when gathered already.
// Transport errors are not cached, so a later Get tries again.
func Get[T any](ctx context.Context, h Host, f *Fact[T]) (T, error) {
	cache := cacheOf(h)
	if e, ok := cache.load(f.Name); ok {
		v, _ := e.v.(T)
		return v, e.err
	}
	v, err := read(ctx, h.Conn(), f)
	if err == nil || errors.As(err, new(*ParseError)) {
		cache.store(f.Name, entry{v, err})
	}
	return v, err
}

// read measures f on the host, without the cache.
func read[T any](ctx context.Context, c conn.Conn, f *Fact[T]) (T, error) {
	if f.File != "" {
		data, err := c.ReadFile(ctx, f.File)
		if errors.Is(err, fs.ErrNotExist) {
			return f.Default, nil
		}
		if err != nil {
			var zero T
			return zero, fmt.Errorf("fact %s: read %s: %w", f.Name, f.File, err)
		}
		v, err := f.parse(data, false)
		return v.(T), err
	}
	r, err := c.Run(ctx, f.Cmd)
	if err != nil {
		var zero T
		return zero, fmt.Errorf("fact %s: %w", f.Name, err)
	}
	v, err := f.parse([]byte(r.Stdout), false)
	return v.(T), err
}
