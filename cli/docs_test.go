package cli_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/cli"
	"github.com/gpuctl/gpuctl/modules"
)

var update = flag.Bool("update", false, "rewrite docs/modules/ from `gpuctl doc --format markdown`")

const moduleDocs = "../docs/modules"

// notesMark starts the hand-written part of a module page: everything
// above it is `gpuctl doc --format markdown` and is compared, everything
// below is kept as written.
const notesMark = "<!-- Written by hand below; the part above is generated: go test ./cli -run TestModuleDocs -update -->\n"

// generated returns the part of a page that gpuctl doc owns, and the notes.
func generated(page string) (gen, notes string) {
	if i := strings.Index(page, notesMark); i >= 0 {
		return page[:i], page[i:]
	}
	return page, ""
}

// wantModuleDocs is docs/modules/ as `gpuctl doc` renders it: one page per
// registered module and the README.md index.
func wantModuleDocs() map[string]string {
	want := map[string]string{}
	var idx strings.Builder
	idx.WriteString("# Module reference\n\nEvery module gpuctl ships, with a one-line summary. `gpuctl doc MODULE` prints the same page.\n\n| module | summary |\n|---|---|\n")
	for _, info := range modules.All() {
		spec, err := modules.Resolve(info.Name)
		if err != nil {
			panic(err) // registered a moment ago
		}
		want[info.Name+".md"] = cli.ModuleDoc(spec, true)
		fmt.Fprintf(&idx, "| [%s](%s.md) | %s |\n", info.Name, info.Name, info.Summary)
	}
	want["README.md"] = idx.String()
	return want
}

// TestModuleDocsAreGenerated fails when a page under docs/modules differs
// from what `gpuctl doc --format markdown` prints (up to its hand-written
// notes, see notesMark), is missing, or belongs to no module. Run `go test ./cli -run TestModuleDocs -update` (or
// `task docs`) after changing a module's registration or argument tags.
func TestModuleDocsAreGenerated(t *testing.T) {
	want := wantModuleDocs()
	if *update {
		writeModuleDocs(t, want)
	}
	entries, err := os.ReadDir(moduleDocs)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".md") {
			have[e.Name()] = true
		}
	}
	var missing, extra, stale []string
	for name, text := range want {
		if !have[name] {
			missing = append(missing, name)
			continue
		}
		b, err := os.ReadFile(filepath.Join(moduleDocs, name))
		if err != nil {
			t.Fatal(err)
		}
		if gen, _ := generated(string(b)); gen != text {
			stale = append(stale, name)
		}
	}
	for name := range have {
		if _, ok := want[name]; !ok {
			extra = append(extra, name)
		}
	}
	for _, l := range []struct {
		what  string
		names []string
	}{{"missing", missing}, {"extra (no such module)", extra}, {"differ from gpuctl doc", stale}} {
		if len(l.names) > 0 {
			slices.Sort(l.names)
			t.Errorf("docs/modules: %s: %s", l.what, strings.Join(l.names, ", "))
		}
	}
	if t.Failed() {
		t.Log("regenerate with: go test ./cli -run TestModuleDocs -update")
	}
}

// writeModuleDocs makes docs/modules hold exactly want, keeping each
// page's hand-written notes.
func writeModuleDocs(t *testing.T, want map[string]string) {
	t.Helper()
	entries, err := os.ReadDir(moduleDocs)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if _, ok := want[e.Name()]; !ok && strings.HasSuffix(e.Name(), ".md") {
			if err := os.Remove(filepath.Join(moduleDocs, e.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, text := range want {
		p := filepath.Join(moduleDocs, name)
		if b, err := os.ReadFile(p); err == nil {
			_, notes := generated(string(b))
			text += notes
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
