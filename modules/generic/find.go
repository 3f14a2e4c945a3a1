package generic

import (
	"context"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gpuctl/gpuctl/internal/pyre"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:      "find",
		Summary:   "List files that match name patterns, type, age, size or content into a registered variable",
		CheckMode: "Reads only (one find(1) on the host); it runs under --check as in a real run.",
		Example: `- name: Old release archives
  find:
    paths: /usr/local/src
    patterns: "*.tar.gz"
    age: 4w
  register: old`,
		New: func() modules.Module { return &Find{} },
	})
}

// Find is Ansible's find: the host lists the trees once with find(1), and
// Ansible's filters run here.
type Find struct {
	Paths         []string `yaml:"paths" required:"true" aliases:"name,path" doc:"directories to search"`
	Patterns      []string `yaml:"patterns" aliases:"pattern" doc:"base names to match: shell globs, or with use_regex Python-style regular expressions matched from the start"`
	Excludes      []string `yaml:"excludes" aliases:"exclude" doc:"base names to leave out (same syntax as patterns)"`
	Contains      string   `yaml:"contains" doc:"regular expression a file's line must match from its start (file_type file only)"`
	ReadWholeFile bool     `yaml:"read_whole_file" doc:"match contains anywhere in the whole file instead of line by line"`
	FileType      string   `yaml:"file_type" default:"file" choices:"any,directory,file,link" doc:"what kind of entries to list"`
	Recurse       bool     `yaml:"recurse" doc:"descend into subdirectories"`
	Hidden        bool     `yaml:"hidden" doc:"include names starting with a dot"`
	Follow        bool     `yaml:"follow" doc:"descend into symlinked directories"`
	GetChecksum   bool     `yaml:"get_checksum" doc:"add the sha1 checksum of each regular file"`
	UseRegex      bool     `yaml:"use_regex" doc:"patterns and excludes are regular expressions"`
	Age           string   `yaml:"age" doc:"at least this old (2d, 4w, 3600), or with a leading minus at most"`
	AgeStamp      string   `yaml:"age_stamp" default:"mtime" choices:"atime,ctime,mtime" doc:"which time age compares"`
	Size          string   `yaml:"size" doc:"at least this size (10m, 1g), or with a leading minus at most"`
	Depth         int      `yaml:"depth" doc:"how deep to descend with recurse (1: the path's own entries)"`

	age, size   *int64
	pats, excls []func(string) bool
	contains    *pyre.Regexp
	result      map[string]any
}

var (
	ageArg  = regexp.MustCompile(`^(-?\d+)(s|m|h|d|w)?$`)
	sizeArg = regexp.MustCompile(`^(-?\d+)(b|k|m|g|t)?$`)
)

func (m *Find) Validate() error {
	for _, p := range m.Paths {
		if err := absPath("paths", p); err != nil {
			return err
		}
	}
	var err error
	if m.age, err = scaled("age", m.Age, ageArg, map[string]int64{"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}); err != nil {
		return err
	}
	if m.size, err = scaled("size", m.Size, sizeArg, map[string]int64{"b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}); err != nil {
		return err
	}
	pats := m.Patterns
	if len(pats) == 0 {
		pats = []string{"*"}
		if m.UseRegex {
			pats = []string{".*"}
		}
	}
	if m.pats, err = m.matchers(pats); err != nil {
		return err
	}
	if m.excls, err = m.matchers(m.Excludes); err != nil {
		return err
	}
	if m.Contains != "" {
		if m.contains, err = pyre.Compile(m.Contains, 0); err != nil {
			return fmt.Errorf("contains: %w", err)
		}
	}
	return nil
}

func scaled(name, s string, re *regexp.Regexp, units map[string]int64) (*int64, error) {
	if s == "" {
		return nil, nil
	}
	g := re.FindStringSubmatch(strings.ToLower(s))
	if g == nil {
		return nil, fmt.Errorf("%s %q: expected a number with an optional unit, such as %s", name, s, map[string]string{"age": "2d or -1w", "size": "10m or -1k"}[name])
	}
	n, _ := strconv.ParseInt(g[1], 10, 64)
	if u, ok := units[g[2]]; ok {
		n *= u
	}
	return &n, nil
}

// matchers compile globs (path.Match, like fnmatch) or regexps matched
// from the start, as Python's re.match.
func (m *Find) matchers(pats []string) ([]func(string) bool, error) {
	var out []func(string) bool
	for _, p := range pats {
		if !m.UseRegex {
			if _, err := path.Match(p, ""); err != nil {
				return nil, fmt.Errorf("pattern %q: %w", p, err)
			}
			out = append(out, func(s string) bool { ok, _ := path.Match(p, s); return ok })
			continue
		}
		re, err := pyre.Compile(p, 0)
		if err != nil {
			return nil, fmt.Errorf("pattern %q: %w", p, err)
		}
		out = append(out, func(s string) bool { m, _ := re.Match(s); return m != nil })
	}
	return out, nil
}

func (m *Find) Result() map[string]any { return m.result }

func (m *Find) Reads() []string { return m.Paths }

// Apply is never called: Check never finds anything to change.
func (m *Find) Apply(context.Context, modules.Host, plan.Diff) error { return nil }

var (
	_ modules.Module   = (*Find)(nil)
	_ modules.Reader   = (*Find)(nil)
	_ modules.Resulter = (*Find)(nil)
)

// errNotDir is Ansible's message for a path that is not a directory.
var errNotDir = errors.New("is not a directory")

func (m *Find) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	if err := expandHome(ctx, h, ptrs(m.Paths)...); err != nil {
		return plan.Diff{}, err
	}
	files := []any{}
	skipped := map[string]any{}
	examined := 0
	now := float64(time.Now().UnixNano()) / 1e9
	for _, root := range m.Paths {
		entries, err := m.list(ctx, h, root)
		if err != nil {
			skipped[root] = err.Error()
			continue
		}
		examined += len(entries)
		for _, e := range entries {
			if r, ok, err := m.keep(ctx, h, e, now); err != nil {
				return plan.Diff{}, err
			} else if ok {
				files = append(files, r)
			}
		}
	}
	msg := "All paths examined"
	if len(skipped) > 0 {
		msg = "Not all paths examined, check warnings for details"
	}
	m.result = map[string]any{"files": files, "matched": len(files), "examined": examined, "msg": msg, "skipped_paths": skipped}
	return plan.Diff{}, nil
}
