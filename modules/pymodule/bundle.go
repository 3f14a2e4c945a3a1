package pymodule

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Bundle is the zip the host runs, and its sha256: the same module and
// module_utils give the same bytes, so a host keeps one copy per module
// across runs. It is built once per Source.
func (s *Source) Bundle() ([]byte, string, error) {
	s.once.Do(func() {
		s.bundle, s.err = s.build()
		if s.err == nil {
			sum := sha256.Sum256(s.bundle)
			s.sha = hex.EncodeToString(sum[:])
		}
	})
	return s.bundle, s.sha, s.err
}

// collImport finds the collections whose module_utils a file imports, by
// absolute name; relative imports (from ..module_utils) are the file's own
// collection's.
var collImport = regexp.MustCompile(`ansible_collections\.(\w+)\.(\w+)\.plugins\.module_utils`)

func (s *Source) build() ([]byte, error) {
	files := map[string][]byte{} // zip path -> content
	if err := addTree(files, filepath.Join(s.Core, "module_utils"), "ansible/module_utils"); err != nil {
		return nil, fmt.Errorf("ansible-core's module_utils: %w", err)
	}
	for _, d := range s.ModuleUtils {
		if err := addTree(files, d, "ansible/module_utils"); err != nil {
			return nil, fmt.Errorf("module_utils %s: %w", d, err)
		}
	}
	src, err := os.ReadFile(s.Path)
	if err != nil {
		return nil, err
	}
	modPath := strings.ReplaceAll(s.FQN(), ".", "/") + ".py"
	files[modPath] = src
	if s.Collection != "" {
		// The module's own collection, then every collection a shipped
		// file imports from, until no new one appears.
		done := map[string]bool{}
		todo := []string{s.Collection}
		for len(todo) > 0 {
			c := todo[0]
			todo = todo[1:]
			if done[c] {
				continue
			}
			done[c] = true
			ns, coll, _ := strings.Cut(c, ".")
			dir := filepath.Join(s.CollectionsRoot, ns, coll, "plugins", "module_utils")
			if _, err := os.Stat(dir); err == nil {
				if err := addTree(files, dir, path.Join("ansible_collections", ns, coll, "plugins", "module_utils")); err != nil {
					return nil, fmt.Errorf("module_utils of %s: %w", c, err)
				}
			}
			for _, k := range slices.Sorted(maps.Keys(files)) {
				if !strings.HasPrefix(k, "ansible_collections/") {
					continue
				}
				for _, m := range collImport.FindAllSubmatch(files[k], -1) {
					if n := string(m[1]) + "." + string(m[2]); !done[n] {
						todo = append(todo, n)
					}
				}
			}
		}
	}
	files["__main__.py"] = []byte(fmt.Sprintf(mainPy, s.FQN()))
	addInits(files)

	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	stamp := time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC) // fixed: same inputs, same sha
	for _, name := range slices.Sorted(maps.Keys(files)) {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: stamp})
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(files[name]); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// mainPy runs the module as ansible-core's AnsiballZ wrapper does: as
// __main__, so its `if __name__ == '__main__': main()` fires; the module
// reads its arguments from stdin itself (AnsibleModule's _load_params).
const mainPy = `import runpy
runpy.run_module(%q, run_name='__main__', alter_sys=True)
`

// addTree copies a directory's files (no byte code) under prefix.
func addTree(files map[string][]byte, dir, prefix string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "__pycache__" {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(p, ".pyc") || !d.Type().IsRegular() && d.Type()&fs.ModeSymlink == 0 {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files[path.Join(prefix, filepath.ToSlash(rel))] = b
		return nil
	})
}

// addInits gives every package directory an __init__.py: collections'
// module_utils are namespace packages, which not every Python's zipimport
// can import.
func addInits(files map[string][]byte) {
	for _, name := range slices.Collect(maps.Keys(files)) {
		for dir := path.Dir(name); dir != "." && dir != "/"; dir = path.Dir(dir) {
			if _, ok := files[dir+"/__init__.py"]; !ok {
				files[dir+"/__init__.py"] = nil
			}
		}
	}
}
