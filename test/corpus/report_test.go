package corpus

import (
	"cmp"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// result is what one item reached, for the table.
type result struct {
	it   Item
	got  Level
	gaps []string // what stopped it, classified
	// idempotent re-run wall times (zero when not applied by both tools)
	gpuctlRerun, ansibleRerun time.Duration
	note                      string
}

// writeReport writes the markdown section "## Real content" (table, then the gaps with the
// number of items each one blocks) to $GPUCTL_CORPUS_REPORT, when set (run.sh sets it).
func writeReport(t *testing.T, m *Manifest, rs []result, hosts bool) {
	path := os.Getenv("GPUCTL_CORPUS_REPORT")
	if path == "" {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "## Real content\n\n")
	fmt.Fprintf(&b, "Roles and playbooks written by others, used unchanged: the collections in Debian's `%s` package %s\n", m.Package, m.Version)
	fmt.Fprintf(&b, "(`%s`), listed with their sha256 and licence in `test/corpus/manifest.yaml`; roles run through our\n", m.Root)
	fmt.Fprintf(&b, "wrapper plays in `test/corpus/plays/`. `test/corpus/run.sh` regenerates this section; `go test ./test/corpus`\n")
	fmt.Fprintf(&b, "fails when an item falls below, or rises above, the level the manifest records.\n\n")
	if !hosts {
		fmt.Fprintf(&b, "(Loading only: this run had no test hosts, so plans/applies/same were not measured.)\n\n")
	}
	fmt.Fprintf(&b, "| item | collection | what it does | loads | plans | applies | same state as Ansible | re-run gpuctl / ansible-playbook | stopped by |\n")
	fmt.Fprintf(&b, "|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rs {
		mark := func(l Level) string {
			if r.got.rank() >= l.rank() {
				return "yes"
			}
			if l != Loads && r.it.Apply == nil && l.rank() > Plans.rank() {
				return "n/a (online)"
			}
			return "no"
		}
		speed := ""
		if r.gpuctlRerun > 0 && r.ansibleRerun > 0 {
			speed = fmt.Sprintf("%.2f s / %.2f s (%.0fx)", r.gpuctlRerun.Seconds(), r.ansibleRerun.Seconds(), r.ansibleRerun.Seconds()/r.gpuctlRerun.Seconds())
		}
		stop := strings.Join(r.gaps, "; ")
		if r.note != "" {
			stop = strings.TrimPrefix(stop+"; "+r.note, "; ")
		}
		if r.it.Ansible != "" && r.got != Same {
			stop = strings.TrimPrefix(stop+"; ansible-playbook: "+r.it.Ansible, "; ")
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.it.Name, r.it.Collection, r.it.What,
			mark(Loads), mark(Plans), mark(Applies), mark(Same), speed, strings.ReplaceAll(stop, "|", `\|`))
	}
	counts := map[Level]int{}
	for _, r := range rs {
		for _, l := range levels {
			if r.got.rank() >= l.rank() {
				counts[l]++
			}
		}
	}
	fmt.Fprintf(&b, "\n%d items: %d load, %d plan, %d apply, %d reach Ansible's end state.\n", len(rs), counts[Loads], counts[Plans], counts[Applies], counts[Same])
	b.WriteString("\n### Gaps, by the number of items each one stops\n\n")
	b.WriteString(gapTable(rs))
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Error(err)
	}
}

// gapTable counts, for every gap, the items it appears in.
func gapTable(rs []result) string {
	items := map[string][]string{}
	for _, r := range rs {
		for _, g := range r.gaps {
			items[g] = append(items[g], r.it.Name)
		}
	}
	gaps := make([]string, 0, len(items))
	for g := range items {
		gaps = append(gaps, g)
	}
	slices.SortFunc(gaps, func(a, b string) int {
		return cmp.Or(cmp.Compare(len(items[b]), len(items[a])), cmp.Compare(a, b))
	})
	var b strings.Builder
	b.WriteString("| gap | items | which |\n|---|---|---|\n")
	for _, g := range gaps {
		fmt.Fprintf(&b, "| %s | %d | %s |\n", strings.ReplaceAll(g, "|", `\|`), len(items[g]), strings.Join(items[g], ", "))
	}
	return b.String()
}
