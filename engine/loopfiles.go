package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// sequence reads "start=1 end=5 stride=1 format=%d", "count=3" or the
// shortcut "1-5", giving formatted strings as ansible-core does.
func sequence(v any) ([]any, error) {
	spec := strings.TrimSpace(fmt.Sprint(v))
	start, end, stride, count, format := 1, 0, 1, -1, "%d"
	for _, w := range strings.Fields(spec) {
		k, val, ok := strings.Cut(w, "=")
		if !ok {
			if a, b, ok := strings.Cut(w, "-"); ok {
				k, val = "start", a
				end, _ = strconv.Atoi(b)
			} else {
				k, val = "end", w
			}
		}
		var err error
		switch k {
		case "start":
			start, err = strconv.Atoi(val)
		case "end":
			end, err = strconv.Atoi(val)
		case "stride":
			stride, err = strconv.Atoi(val)
		case "count":
			count, err = strconv.Atoi(val)
		case "format":
			format = val
		default:
			return nil, fmt.Errorf("unknown argument %q in %q", k, spec)
		}
		if err != nil {
			return nil, fmt.Errorf("%s in %q: %w", k, spec, err)
		}
	}
	if count >= 0 {
		end = start + (count-1)*stride
	}
	if stride == 0 {
		return nil, fmt.Errorf("stride 0 in %q", spec)
	}
	out := []any{}
	for i := start; (stride > 0 && i <= end) || (stride < 0 && i >= end); i += stride {
		out = append(out, fmt.Sprintf(format, i))
	}
	return out, nil
}

// searchDirs are where relative controller paths are looked up: the role,
// then the playbook's directory (files/ beneath each first).
func searchDirs(vars map[string]any) []string {
	var out []string
	for _, k := range []string{"role_path", "playbook_dir"} {
		if d, _ := vars[k].(string); d != "" {
			out = append(out, filepath.Join(d, "files"), d)
		}
	}
	return out
}

func fileglob(patterns []any, dirs []string) ([]any, error) {
	out := []any{}
	for _, p := range patterns {
		pat := fmt.Sprint(p)
		bases := dirs
		if filepath.IsAbs(pat) {
			bases = []string{""}
		}
		for _, b := range bases {
			matches, err := filepath.Glob(filepath.Join(b, pat))
			if err != nil {
				return nil, err
			}
			var files []string
			for _, m := range matches {
				if fi, err := os.Stat(m); err == nil && !fi.IsDir() {
					files = append(files, m)
				}
			}
			if len(files) > 0 {
				slices.Sort(files)
				for _, f := range files {
					out = append(out, f)
				}
				break
			}
		}
	}
	return out, nil
}

// firstFound gives the first existing file of a list, or of
// {files: [...], paths: [...], skip: bool}.
func firstFound(v any, dirs []string) ([]any, error) {
	var files []any
	skip := false
	paths := dirs
	switch x := v.(type) {
	case map[string]any:
		files = asList(x["files"])
		skip, _ = x["skip"].(bool)
		if ps := asList(x["paths"]); len(ps) > 0 {
			paths = nil
			for _, p := range ps {
				d := fmt.Sprint(p)
				if !filepath.IsAbs(d) && len(dirs) > 0 {
					d = filepath.Join(dirs[len(dirs)-1], d)
				}
				paths = append(paths, d)
			}
		}
	default:
		files = asList(v)
	}
	var tried []string
	for _, f := range files {
		name := fmt.Sprint(f)
		cands := []string{name}
		if !filepath.IsAbs(name) {
			cands = nil
			for _, d := range paths {
				cands = append(cands, filepath.Join(d, name))
			}
		}
		for _, c := range cands {
			tried = append(tried, c)
			if fi, err := os.Stat(c); err == nil && !fi.IsDir() {
				return []any{c}, nil
			}
		}
	}
	if skip {
		return []any{}, nil
	}
	return nil, fmt.Errorf("no file found (tried %s)", strings.Join(tried, ", "))
}
