package facts

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
)

// Section markers of the gathering script. A fact's output is everything
// between its start line and the next; the marks are long enough that no
// command prints them by chance.
const (
	startMark   = "@@gpuctl-fact "
	missingMark = "@@gpuctl-missing"
)

// Script is the shell that prints every def's output in its own section.
// Each runs in a subshell so one fact's exit or exported variables do not
// reach the next. A newline goes before each start line, since an output may
// not end with one (env -0); Split takes it off again.
func Script(defs ...Def) string {
	var b strings.Builder
	b.WriteString("exec 2>/dev/null\n")
	for _, d := range defs {
		fmt.Fprintf(&b, "printf '\\n%s%s\\n'\n(\n%s\n)\n", startMark, d.FactName(), d.script())
	}
	b.WriteString("exit 0\n")
	return b.String()
}

// Split cuts the script's output into each fact's raw output, by name.
func Split(out string) map[string]string {
	secs := map[string]string{}
	var name string
	var b strings.Builder
	flush := func() {
		if name != "" {
			secs[name] = strings.TrimSuffix(b.String(), "\n")
		}
		b.Reset()
	}
	for _, line := range strings.SplitAfter(out, "\n") {
		if n, ok := strings.CutPrefix(strings.TrimRight(line, "\n"), startMark); ok {
			flush()
			name = n
			continue
		}
		b.WriteString(line)
	}
	flush()
	return secs
}

// Gather reads every def not cached yet, files over the file channel and
// commands with one remote process, and caches
// each value (or its parse error). It fails only when the host cannot run the
// script; a fact that does not parse fails its own Get.
func Gather(ctx context.Context, h Host, defs ...Def) error {
	cache := cacheOf(h)
	var todo []Def
	for _, d := range defs {
		if _, ok := cache.load(d.FactName()); !ok {
			todo = append(todo, d)
		}
	}
	todo = readFiles(ctx, h, cache, todo)
	if len(todo) == 0 {
		return nil
	}
	r, err := h.Conn().Run(ctx, Script(todo...))
	if err != nil {
		return fmt.Errorf("gathering facts: %w", err)
	}
	store(cache, todo, r.Stdout)
	return nil
}

// readFiles reads the file facts among defs over the connection's file
// channel (SFTP: no process, and a cat per file less in the script) and
// returns the defs left for the script: commands, and files the channel
// could not read (a become without a file server).
func readFiles(ctx context.Context, h Host, cache *Cache, defs []Def) []Def {
	var rest []Def
	for _, d := range defs {
		if d.file() == "" {
			rest = append(rest, d)
			continue
		}
		data, err := h.Conn().ReadFile(ctx, d.file())
		missing := errors.Is(err, fs.ErrNotExist)
		if err != nil && !missing {
			rest = append(rest, d)
			continue
		}
		v, err := d.parse(data, missing)
		cache.store(d.FactName(), entry{v, err})
	}
	return rest
}

// Record stores the facts of defs from a gathering script's output (Script),
// as Gather does: for tests on recorded outputs and for callers that ran the
// script themselves.
func (c *Cache) Record(out string, defs ...Def) { store(c, defs, out) }

// store parses each def's section into the cache.
func store(cache *Cache, defs []Def, out string) {
	secs := Split(out)
	for _, d := range defs {
		raw := secs[d.FactName()]
		missing := strings.TrimSpace(raw) == missingMark
		v, err := d.parse([]byte(raw), missing)
		cache.store(d.FactName(), entry{v, err})
	}
}
