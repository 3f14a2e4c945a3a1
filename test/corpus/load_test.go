package corpus

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	// the engine registers the modules it runs itself (include_vars, meta, setup), as gpuctl does
	_ "github.com/gpuctl/gpuctl/engine"
	_ "github.com/gpuctl/gpuctl/modules/all"
	"github.com/gpuctl/gpuctl/playbooks"
)

// loadItem loads an item as `gpuctl run` does and returns every load error (gpuctl reports
// them all at once, so one pass finds every gap of an item).
func loadItem(t *testing.T, m *Manifest, it Item) []string {
	t.Helper()
	for _, kv := range m.env(it) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	if it.RolesPath == "" {
		// A playbook item must not see another item's roles_path.
		t.Setenv("ANSIBLE_ROLES_PATH", "")
		os.Unsetenv("ANSIBLE_ROLES_PATH")
	}
	l := &playbooks.Loader{Vars: map[string]any{
		"groups":      map[string]any{"all": []any{"corpus"}},
		"corpus_repo": "http://127.0.0.1/",
	}}
	_, err := l.Load(m.playbook(it))
	if err == nil {
		return nil
	}
	var all playbooks.LoadErrors
	if errors.As(err, &all) {
		msgs := make([]string, len(all))
		for i, e := range all {
			msgs[i] = e.Error()
		}
		return msgs
	}
	return []string{err.Error()}
}

// lateErrors loads, one by one, the task files of a role item that gpuctl loads only at run
// time (include_tasks "{{ ansible_os_family }}.yml"), so that the gaps an item will meet when
// it plans are known from loading alone. Errors already in known are left out.
func lateErrors(t *testing.T, m *Manifest, it Item, known []string) []string {
	if it.Play == "" {
		return nil // a playbook item's roles are items of their own
	}
	seen := map[string]bool{}
	for _, e := range known {
		seen[e] = true
	}
	var out []string
	for _, sub := range []string{"tasks", "handlers"} {
		files, _ := filepath.Glob(filepath.Join(m.Root, it.Path, sub, "*.yml"))
		more, _ := filepath.Glob(filepath.Join(m.Root, it.Path, sub, "*", "*.yml"))
		for _, f := range append(files, more...) {
			_, err := playbooks.LoadTasks(f)
			var all playbooks.LoadErrors
			if err != nil && !errors.As(err, &all) {
				all = playbooks.LoadErrors{err}
			}
			for _, e := range all {
				if msg := e.Error(); !seen[msg] {
					seen[msg] = true
					out = append(out, msg)
				}
			}
		}
	}
	if len(out) > 0 {
		t.Logf("%d more errors in task files included at run time:\n  %s", len(out), strings.Join(out, "\n  "))
	}
	return out
}

// Every item loads, or fails to load, as the manifest expects; this part needs no hosts, so it
// runs in -short mode too wherever Debian's ansible package is installed.
func TestCorpusLoads(t *testing.T) {
	m := readManifest(t)
	needCorpus(t, m)
	var rs []result
	for _, it := range m.Items {
		t.Run(it.Name, func(t *testing.T) {
			errs := loadItem(t, m, it)
			got := Loads
			if len(errs) > 0 {
				got = None
				t.Logf("%d load errors:\n  %s", len(errs), strings.Join(errs, "\n  "))
			}
			rs = append(rs, result{it: it, got: got, gaps: classify(m, it, append(errs, lateErrors(t, m, it, errs)...))})
			want := it.Expect
			if want.rank() > Loads.rank() {
				want = Loads // the rest needs hosts: TestCorpus
			}
			if err := verdict(it.Name, got, want); err != nil {
				t.Error(err)
			}
		})
	}
	if testing.Short() || os.Getenv("GPUCTL_CORPUS_LOAD_ONLY") != "" {
		writeReport(t, m, rs, false)
	}
}
