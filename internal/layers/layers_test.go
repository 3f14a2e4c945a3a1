// Package layers holds the test that keeps gpuctl's packages in layers:
// a lower layer never imports a higher one, so the pipeline reads top-down
// in the folder names (see docs/architecture.md).
package layers

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/gpuctl/gpuctl"

// rank orders the layers from the top (cli) to the floor (conn, plan).
// A package may import packages of its own or a lower rank, never higher.
// Packages not listed (internal test fixtures, test/, cmd/) are not ranked.
var rank = []struct {
	prefix string
	level  int
}{
	{"cli", 0},
	{"engine", 1},
	{"playbooks", 2},
	{"modules", 3},
	{"template", 4}, {"kubeclient", 4}, {"facts", 4},
	{"inventory", 5},
	{"conn", 6}, {"plan", 6}, {"vault", 6}, // vault: a leaf that inventory reads vaulted values with
	{"internal/suggest", 7},
}

// runtime is a separate program in the same binary: it may import nothing
// of the provisioning side.
var runtimeForbidden = []string{"cli", "engine", "playbooks", "modules", "inventory"}

func level(rel string) (int, bool) {
	best, lvl := -1, 0
	for _, r := range rank {
		if (rel == r.prefix || strings.HasPrefix(rel, r.prefix+"/")) && len(r.prefix) > best {
			best, lvl = len(r.prefix), r.level
		}
	}
	return lvl, best >= 0
}

func under(rel, prefix string) bool { return rel == prefix || strings.HasPrefix(rel, prefix+"/") }

type pkg struct {
	ImportPath string
	Imports    []string
}

func TestLowerLayersDoNotImportHigherOnes(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go tool not on PATH")
	}
	// Non-test imports only: tests may reach up (a module test running the engine).
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports", module+"/...").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	var bad []string
	n := 0
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		n++
		from := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			to := strings.TrimPrefix(imp, module+"/")
			if under(from, "runtime") {
				for _, f := range runtimeForbidden {
					if under(to, f) {
						bad = append(bad, from+" -> "+to+" (runtime stands apart from the provisioning side)")
					}
				}
				continue
			}
			lf, okf := level(from)
			lt, okt := level(to)
			if okf && okt && lt < lf {
				bad = append(bad, from+" -> "+to)
			}
		}
	}
	if n < 20 {
		t.Fatalf("go list returned %d packages; expected the whole module", n)
	}
	for _, b := range bad {
		t.Errorf("layering: %s imports a higher layer", b)
	}
}

// The rule itself must catch an upward edge, or the test above proves nothing.
func TestLevelOrdersLayers(t *testing.T) {
	cases := []struct {
		from, to string
		upward   bool
	}{
		{"modules/node", "engine", true},
		{"plan", "modules", true},
		{"conn/ssh", "conn", false},
		{"engine", "modules/generic", false},
		{"template", "modules", true},
		{"cli", "engine/output", false},
	}
	for _, c := range cases {
		lf, _ := level(c.from)
		lt, _ := level(c.to)
		if got := lt < lf; got != c.upward {
			t.Errorf("%s -> %s upward = %v, want %v", c.from, c.to, got, c.upward)
		}
	}
}
