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
// then the playbook's directory (sub/ beneath each first).
func searchDirs(vars map[string]any, sub string) []string {
	var out []string
	for _, k := range []string{"role_path", "playbook_dir"} {
		if d, _ := vars[k].(string); d != "" {
			out = append(out, filepath.Join(d, sub), d)
		}
	}
	return out
}

// lookupSubdir is the directory a with_ loop of a task searches first, as
// ansible-core's task executor picks it for the lookup: vars/ for
// include_vars, templates/ for template, files/ otherwise.
func lookupSubdir(module string) string {
	for _, sub := range []string{"template", "var", "file"} {
		if strings.Contains(module, sub) {
			return sub + "s"
		}
	}
	return "files"
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

// firstFound gives the first existing file of its terms, as ansible-core's
// first_found: each term a file name, a list of them, or
// {files: [...], paths: [...], skip: bool} (zabbix_web writes a list of one
// such mapping); skip of any term makes "none found" an empty loop.
func firstFound(v any, dirs []string) ([]any, error) {
	var tried []string
	skip := false
	for _, term := range asList(v) {
		files, paths := []any{term}, dirs
		switch x := term.(type) {
		case map[string]any:
			files = flatten(asList(x["files"]), -1)
			if b, _ := x["skip"].(bool); b {
				skip = true
			}
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
		case []any:
			files = flatten(x, -1)
		}
		if c, ok := findFirst(files, paths, &tried); ok {
			return []any{c}, nil
		}
	}
	if skip {
		return []any{}, nil
	}
	return nil, fmt.Errorf("no file found (tried %s)", strings.Join(tried, ", "))
}

// findFirst is the first of files that exists, absolute or under one of
// paths; every candidate goes into tried, for the error.
func findFirst(files []any, paths []string, tried *[]string) (string, bool) {
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
			*tried = append(*tried, c)
			if fi, err := os.Stat(c); err == nil && !fi.IsDir() {
				return c, true
			}
		}
	}
	return "", false
}
