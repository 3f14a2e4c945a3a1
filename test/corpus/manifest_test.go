// Package corpus runs real Ansible content written by others (roles and playbooks of the
// collections in Debian's ansible package, unchanged) through gpuctl: load, plan on a real Debian
// host, and where it can run offline, apply and compare the end state with ansible-playbook's.
// manifest.yaml lists the items and the level each reaches; see run.sh for the table.
package corpus

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// Manifest is manifest.yaml.
type Manifest struct {
	Package     string                `yaml:"package"`
	Version     string                `yaml:"version"`
	Root        string                `yaml:"root"`
	Collections map[string]Collection `yaml:"collections"`
	Items       []Item                `yaml:"items"`
}

// Collection is where an item comes from and under which licence.
type Collection struct {
	Version     string `yaml:"version"`
	License     string `yaml:"license"`
	LicenseFile string `yaml:"license_file"`
}

// Item is one role (run through our wrapper Play) or playbook (run as it is, with RolesPath).
type Item struct {
	Name       string `yaml:"name"`
	Collection string `yaml:"collection"`
	Path       string `yaml:"path"` // under Manifest.Root
	SHA256     string `yaml:"sha256"`
	Play       string `yaml:"play"`       // our wrapper, relative to this directory (roles)
	RolesPath  string `yaml:"roles_path"` // under Manifest.Root (playbooks)
	What       string `yaml:"what"`
	Expect     Level  `yaml:"expect"`
	Apply      *Apply `yaml:"apply"`
	// Ansible says how ansible-playbook fares with the same play on the same kind of host,
	// where it stops too (found by hand, see the comment beside it): the table's "stopped by"
	// then says so, so a gap of the content is not read as one of gpuctl.
	Ansible string `yaml:"ansible"`
}

// Apply says how to run an item offline and what of the end state to compare.
type Apply struct {
	// Repo: fake packages the local apt repository serves (name → version), for roles that
	// install from a vendor's repository; the wrapper points the role at {{ corpus_repo }}.
	Repo     map[string]string `yaml:"repo"`
	Paths    []string          `yaml:"paths"`
	Packages []string          `yaml:"packages"`
	Services []string          `yaml:"services"`
	Sysctls  []string          `yaml:"sysctls"`
	Users    []string          `yaml:"users"`
	Groups   []string          `yaml:"groups"`
}

func readManifest(t testing.TB) *Manifest {
	t.Helper()
	data, err := os.ReadFile("manifest.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("manifest.yaml: %v", err)
	}
	if r := os.Getenv("GPUCTL_CORPUS_ROOT"); r != "" {
		m.Root = r
	}
	return &m
}

// playbook is the file gpuctl and ansible-playbook run for the item.
func (m *Manifest) playbook(it Item) string {
	if it.Play != "" {
		abs, _ := filepath.Abs(it.Play)
		return abs
	}
	return filepath.Join(m.Root, it.Path)
}

// env is what both tools get: roles_path for playbooks, as molecule sets it.
func (m *Manifest) env(it Item) []string {
	if it.RolesPath == "" {
		return nil
	}
	return []string{"ANSIBLE_ROLES_PATH=" + filepath.Join(m.Root, it.RolesPath)}
}

// treeHash is the sha256 of the `sha256sum ./rel` lines of every regular file under path,
// sorted (what `find . -type f | sort | xargs sha256sum | sha256sum` prints in its directory).
// A file is hashed as a tree of one.
func treeHash(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	base, files := path, []string{"./" + filepath.Base(path)}
	if st.IsDir() {
		files = nil
		err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			rel, _ := filepath.Rel(path, p)
			files = append(files, "./"+filepath.ToSlash(rel))
			return nil
		})
		if err != nil {
			return "", err
		}
	} else {
		base = filepath.Dir(path)
	}
	slices.Sort(files)
	all := sha256.New()
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(base, f))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(all, "%x  %s\n", sha256.Sum256(data), f)
	}
	return fmt.Sprintf("%x", all.Sum(nil)), nil
}

// needCorpus skips (or, with GPUCTL_TEST_HOSTS=require as in CI, fails) when Debian's ansible
// package is not installed.
func needCorpus(t *testing.T, m *Manifest) {
	t.Helper()
	if _, err := os.Stat(m.Root); err == nil {
		return
	}
	msg := fmt.Sprintf("the corpus is not installed at %s (apt-get install %s)", m.Root, m.Package)
	if os.Getenv("GPUCTL_TEST_HOSTS") == "require" && !testing.Short() {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// The manifest is consistent, and every item is the content it names: unchanged, with its
// collection's licence beside it.
func TestManifest(t *testing.T) {
	m := readManifest(t)
	seen := map[string]bool{}
	for _, it := range m.Items {
		switch {
		case seen[it.Name]:
			t.Errorf("%s: listed twice", it.Name)
		case (it.Play == "") == (it.RolesPath == ""):
			t.Errorf("%s: a role has play:, a playbook roles_path:, not both or neither", it.Name)
		case m.Collections[it.Collection].LicenseFile == "":
			t.Errorf("%s: collection %s has no licence in the manifest", it.Name, it.Collection)
		}
		seen[it.Name] = true
		if it.Play != "" {
			if _, err := os.Stat(it.Play); err != nil {
				t.Errorf("%s: %v", it.Name, err)
			}
		}
	}
	if len(m.Items) < 25 {
		t.Errorf("%d items, want at least 25", len(m.Items))
	}
	needCorpus(t, m)
	for c, col := range m.Collections {
		if _, err := os.Stat(filepath.Join(m.Root, col.LicenseFile)); err != nil {
			t.Errorf("collection %s: licence: %v", c, err)
		}
	}
	for _, it := range m.Items {
		got, err := treeHash(filepath.Join(m.Root, it.Path))
		if err != nil {
			t.Errorf("%s: %v", it.Name, err)
		} else if got != it.SHA256 {
			t.Errorf("%s: %s has sha256 %s, the manifest says %s: not the %s %s content the expectations were measured on",
				it.Name, it.Path, got, it.SHA256, m.Package, m.Version)
		}
	}
}
