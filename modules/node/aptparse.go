package node

import (
	"path"
	"regexp"
	"strings"

	"github.com/gpuctl/gpuctl/plan"
)

// pkgSpec is one requested package: a name with an optional version, which
// may be a glob ("1.34.4-*") resolved against the apt cache.
type pkgSpec struct {
	Name    string
	Version string
}

func parseSpec(s string) pkgSpec {
	name, ver, _ := strings.Cut(strings.TrimSpace(s), "=")
	return pkgSpec{Name: name, Version: ver}
}

func (p pkgSpec) String() string {
	if p.Version == "" {
		return p.Name
	}
	return p.Name + "=" + p.Version
}

func (p pkgSpec) glob() bool { return strings.ContainsAny(p.Version, "*?[") }

// matches reports whether an installed version satisfies the spec.
func (p pkgSpec) matches(installed string) bool {
	if p.Version == "" {
		return installed != ""
	}
	ok, err := path.Match(p.Version, installed)
	return err == nil && ok
}

var validPkgName = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+(:[a-z0-9]+)?$`)

// pkgStatus is what dpkg knows of one package.
type pkgStatus struct {
	Version   string // installed version, "" when not installed
	Installed bool
	Held      bool
	Config    bool // removed, configuration files left (purge would remove them)
}

// parseDpkgQuery reads `dpkg-query -W -f='${Package}\t${Version}\t${db:Status-Abbrev}\n'`.
// Packages dpkg never heard of are simply missing from the map.
func parseDpkgQuery(out string) map[string]pkgStatus {
	m := map[string]pkgStatus{}
	for l := range strings.SplitSeq(out, "\n") {
		f := strings.Split(l, "\t")
		if len(f) < 3 || f[0] == "" {
			continue
		}
		abbrev := f[2] + "   "
		st := pkgStatus{Held: abbrev[0] == 'h', Installed: abbrev[1] == 'i', Config: abbrev[1] == 'c'}
		if st.Installed {
			st.Version = f[1]
		}
		if prev, ok := m[f[0]]; ok && prev.Installed && !st.Installed {
			continue // another architecture's leftover must not hide the installed one
		}
		m[f[0]] = st
	}
	return m
}

// simOp is one line of `apt-get -s` output.
type simOp struct {
	Op      string // Inst, Remv, Purg
	Name    string
	Old     string // installed version, "" for a new package
	New     string // version to be installed, "" for removals
	Release string
}

var simLine = regexp.MustCompile(`^(Inst|Remv|Purg) (\S+)(?: \[([^\]]*)\])?(?: \((\S+)(?: ([^\[\)]*?))?(?: \[[^\]]*\])?\))?`)

// parseSimulation reads what `apt-get -s` would do. Conf lines repeat Inst
// lines and are ignored.
func parseSimulation(out string) []simOp {
	var ops []simOp
	for l := range strings.SplitSeq(out, "\n") {
		m := simLine.FindStringSubmatch(strings.TrimSpace(l))
		if m == nil {
			continue
		}
		ops = append(ops, simOp{Op: m[1], Name: m[2], Old: m[3], New: m[4], Release: strings.TrimSpace(m[5])})
	}
	return ops
}

// change turns a simulated operation into a plan change.
func (o simOp) change() plan.Change {
	c := plan.Change{Resource: "package:" + o.Name, Field: "version", Before: o.Old, After: o.New}
	switch {
	case o.Op == "Remv" || o.Op == "Purg":
		c.Action = plan.Delete
		c.Field = ""
		if o.Op == "Purg" {
			c.After = "(purged)"
		}
	case o.Old == "":
		c.Action = plan.Create
	default:
		c.Action = plan.Update
	}
	return c
}

// notLocatable recognises apt's errors for packages or versions missing
// from the cache, which in check mode usually mean an earlier task adds the
// repository.
func notLocatable(stderr string) bool {
	return strings.Contains(stderr, "Unable to locate package") ||
		strings.Contains(stderr, "has no installation candidate") ||
		(strings.Contains(stderr, "Version '") && strings.Contains(stderr, "was not found"))
}

// parseMadison returns the versions `apt-cache madison NAME` lists, best
// first, without duplicates.
func parseMadison(out string) []string {
	var vs []string
	seen := map[string]bool{}
	for l := range strings.SplitSeq(out, "\n") {
		f := strings.Split(l, "|")
		if len(f) < 3 {
			continue
		}
		v := strings.TrimSpace(f[1])
		if v != "" && !seen[v] {
			seen[v] = true
			vs = append(vs, v)
		}
	}
	return vs
}
