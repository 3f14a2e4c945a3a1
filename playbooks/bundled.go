package playbooks

import (
	"embed"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

//go:embed bundled
var bundled embed.FS

// BundledPlaybook is an embedded playbook and a reader for the files it
// imports, which are embedded beside it.
type BundledPlaybook struct {
	Path     string
	ReadFile func(string) ([]byte, error)
}

// Bundled finds an embedded playbook by name, with or without ".yaml".
func Bundled(name string) (BundledPlaybook, bool) {
	name = strings.TrimSuffix(path.Base(name), ".yaml") + ".yaml"
	p := "bundled/" + name
	if _, err := fs.Stat(bundled, p); err != nil {
		return BundledPlaybook{}, false
	}
	return BundledPlaybook{Path: p, ReadFile: func(f string) ([]byte, error) {
		return bundled.ReadFile(path.Clean(filepath.ToSlash(f)))
	}}, true
}

// BundledNames lists the embedded top-level playbooks.
func BundledNames() []string {
	entries, _ := fs.ReadDir(bundled, "bundled")
	var out []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".yaml") {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out
}

// ExportBundled writes every embedded file under dir, keeping the layout,
// without overwriting files that exist unless force is set.
func ExportBundled(dir string, force bool) ([]string, error) {
	var written []string
	err := fs.WalkDir(bundled, "bundled", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel := strings.TrimPrefix(p, "bundled/")
		dst := filepath.Join(dir, rel)
		if _, err := os.Stat(dst); err == nil && !force {
			return &os.PathError{Op: "export", Path: dst, Err: os.ErrExist}
		}
		data, err := bundled.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			return err
		}
		written = append(written, dst)
		return nil
	})
	return written, err
}
