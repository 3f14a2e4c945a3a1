package generic

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:    "package_facts",
		Summary: "Set ansible_facts.packages: every installed package with its version, architecture, section and origin (ansible.builtin.package_facts)",
		CheckMode: "Reads only (dpkg-query and apt-cache); it runs under --check as in a real run, so later tasks " +
			"can test the packages. Never reports a change.",
		Example: `- name: What is installed
  ansible.builtin.package_facts:
- debug:
    msg: "PAM {{ ansible_facts.packages['libpam-modules'][0].version }}"
  when: "'libpam-modules' in ansible_facts.packages"`,
		New: func() modules.Module { return &PackageFacts{} },
	})
}

// PackageFacts is ansible.builtin.package_facts with the apt manager, the
// one Debian and Ubuntu have. Ansible reads apt's cache through python3-apt
// (and fails without it); gpuctl asks dpkg-query and apt-cache for the same
// values, so ansible_facts.packages has the same keys and values: name ->
// a list of {name, version, arch, category, origin, source: apt}.
type PackageFacts struct {
	Manager  []string `yaml:"manager" default:"auto" doc:"the package managers to ask, in order: auto, apt, or Ansible's others (rpm, pacman, pkg, portage, apk, pkg_info), which no Debian or Ubuntu host has"`
	Strategy string   `yaml:"strategy" default:"first" choices:"first,all" doc:"first: the first manager found; all: every manager found"`

	packages map[string]any
}

// packageManagers are the managers ansible-core's package_facts knows.
var packageManagers = []string{"rpm", "apt", "pacman", "pkg", "portage", "apk", "pkg_info"}

func (m *PackageFacts) Provision() {
	// A list argument may be a comma-separated string, as Ansible's are.
	var list []string
	for _, mg := range m.Manager {
		for _, x := range strings.Split(mg, ",") {
			if x = strings.ToLower(strings.TrimSpace(x)); x != "" {
				list = append(list, x)
			}
		}
	}
	if len(list) == 0 {
		list = []string{"auto"}
	}
	m.Manager = list
}

func (m *PackageFacts) Validate() error {
	var bad []string
	for _, mg := range m.Manager {
		if mg != "auto" && !slices.Contains(packageManagers, mg) {
			bad = append(bad, mg)
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("Unsupported package managers requested: %s (known: auto, %s)", strings.Join(bad, ", "), strings.Join(packageManagers, ", "))
	}
	return nil
}

// wantsApt says whether apt is among the managers asked for; the others
// do not exist on the hosts gpuctl runs on, as Ansible finds them absent.
func (m *PackageFacts) wantsApt() bool {
	return slices.Contains(m.Manager, "auto") || slices.Contains(m.Manager, "apt")
}

const pkgFactsSep = "@@gpuctl-package-facts@@"

// packageFactsScript lists the installed packages (dpkg's view: apt's
// "is_installed" is every state but not-installed and config-files), then
// asks apt for what python3-apt would give Ansible: the section of the
// installed version (apt-cache show, whose record comes from the version's
// first package file), the files that version is in, in apt's order
// (apt-cache policy), and each file's origin (apt-cache policy). A foreign
// architecture's package is named name:arch, as apt names it.
const packageFactsScript = `export LC_ALL=C
command -v dpkg-query >/dev/null && command -v apt-cache >/dev/null || { echo "@@no-apt"; exit 0; }
native=$(dpkg --print-architecture) || exit 1
inst=$(dpkg-query -W -f='${db:Status-Abbrev}\t${Package}\t${Version}\t${Architecture}\n' | awk -F'\t' -v n="$native" '
	substr($1, 2, 1) !~ /[nc]/ { name = $2; if ($4 != n && $4 != "all") name = name ":" $4; print name "\t" $3 "\t" $4 }') || exit 1
printf '%s\n' "$inst"
echo ` + pkgFactsSep + `
printf '%s\n' "$inst" | awk -F'\t' 'NF { print $1 "=" $2 }' | xargs -r apt-cache show 2>/dev/null |
	awk '/^Package:/ { p = $2 } /^Architecture:/ { a = $2 } /^Version:/ { v = $2 } /^Section:/ { s = $2 }
	/^$/ { if (p != "") print p "\t" a "\t" v "\t" s; p = a = v = s = "" }
	END { if (p != "") print p "\t" a "\t" v "\t" s }'
echo ` + pkgFactsSep + `
printf '%s\n' "$inst" | awk -F'\t' 'NF { print $1 }' | xargs -r apt-cache policy 2>/dev/null
echo ` + pkgFactsSep + `
apt-cache policy 2>/dev/null
`

func (m *PackageFacts) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	if !m.wantsApt() {
		return plan.Diff{}, m.notFound()
	}
	r, err := h.Conn().Run(ctx, packageFactsScript)
	if err != nil {
		return plan.Diff{}, fmt.Errorf("package_facts: %w", err)
	}
	if !r.OK() {
		return plan.Diff{}, fmt.Errorf("package_facts: %w", &conn.ExitError{Cmd: "dpkg-query", Result: r})
	}
	if strings.HasPrefix(r.Stdout, "@@no-apt") {
		return plan.Diff{}, m.notFound()
	}
	pkgs, err := parsePackageFacts(r.Stdout)
	if err != nil {
		return plan.Diff{}, fmt.Errorf("package_facts: %w", err)
	}
	m.packages = pkgs
	return plan.Diff{}, nil
}

// notFound is Ansible's failure when no manager asked for is usable.
func (m *PackageFacts) notFound() error {
	list := m.Manager
	if slices.Contains(list, "auto") {
		list = slices.DeleteFunc(slices.Clone(list), func(s string) bool { return s == "auto" })
		list = append(list, packageManagers...)
	}
	return fmt.Errorf("Could not detect a supported package manager from the following list: ['%s'], "+
		"or the required Python library is not installed. Check warnings for details.", strings.Join(list, "', '"))
}

// parsePackageFacts joins the four parts of packageFactsScript's output.
func parsePackageFacts(out string) (map[string]any, error) {
	parts := strings.Split(out, pkgFactsSep+"\n")
	if len(parts) != 4 {
		return nil, errors.New("unexpected output from dpkg-query and apt-cache")
	}
	type rec struct{ name, version, arch string }
	var installed []rec
	for _, l := range strings.Split(parts[0], "\n") {
		f := strings.Split(l, "\t")
		if len(f) == 3 {
			installed = append(installed, rec{f[0], f[1], f[2]})
		}
	}
	// apt-cache show prints the bare package name; key by name, arch and
	// version so a foreign-architecture twin keeps its own section.
	section := map[string]string{}
	for _, l := range strings.Split(parts[1], "\n") {
		if f := strings.Split(l, "\t"); len(f) == 4 {
			section[f[0]+"\t"+f[1]+"\t"+f[2]] = f[3]
		}
	}
	first := policyFirstFiles(parts[2])
	origins := policyOrigins(parts[3])
	pkgs := map[string]any{}
	for _, p := range installed {
		bare, _, _ := strings.Cut(p.name, ":")
		category := section[bare+"\t"+p.arch+"\t"+p.version]
		origin := ""
		if file, ok := first[p.name]; ok {
			origin = origins[file]
		}
		d := map[string]any{"name": p.name, "version": p.version, "arch": p.arch,
			"category": category, "origin": origin, "source": "apt"}
		if cur, ok := pkgs[p.name].([]any); ok {
			pkgs[p.name] = append(cur, d)
		} else {
			pkgs[p.name] = []any{d}
		}
	}
	return pkgs, nil
}

// policyFirstFiles reads `apt-cache policy PKG...`: for each package, the
// first package file of its installed version (python3-apt's origins[0]).
func policyFirstFiles(out string) map[string]string {
	first := map[string]string{}
	var pkg, installed, ver string
	for _, l := range strings.Split(out, "\n") {
		switch {
		case l == "":
		case !strings.HasPrefix(l, " "):
			pkg, installed, ver = strings.TrimSuffix(l, ":"), "", ""
		case strings.HasPrefix(l, "  Installed: "):
			installed = strings.TrimPrefix(l, "  Installed: ")
		case strings.HasPrefix(l, " *** ") || indent(l) == 5:
			// " *** 1.2-3 500" or "     1.2-2 500": a version line
			if f := strings.Fields(strings.TrimPrefix(l, " ***")); len(f) >= 1 {
				ver = f[0]
			}
		case indent(l) > 5:
			// "        500 http://deb.debian.org/debian bookworm/main amd64 Packages"
			if _, done := first[pkg]; !done && ver == installed && installed != "" {
				if _, file, ok := strings.Cut(strings.TrimSpace(l), " "); ok {
					first[pkg] = file
				}
			}
		}
	}
	return first
}

// policyOrigins reads `apt-cache policy`: each package file and the o=
// (Origin) of its release line; a file without one has origin "".
func policyOrigins(out string) map[string]string {
	origins := map[string]string{}
	file := ""
	for _, l := range strings.Split(out, "\n") {
		t := strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "     release "):
			for _, kv := range strings.Split(strings.TrimPrefix(t, "release "), ",") {
				if o, ok := strings.CutPrefix(kv, "o="); ok && file != "" {
					origins[file] = o
				}
			}
		case indent(l) < 5 && t != "" && strings.ContainsAny(t[:1], "-0123456789"):
			// " 500 http://... bookworm/main amd64 Packages" or " 100 /var/lib/dpkg/status"
			if _, f, ok := strings.Cut(t, " "); ok {
				file = f
				if _, seen := origins[file]; !seen {
					origins[file] = ""
				}
			}
		}
	}
	return origins
}

// indent counts a line's leading spaces.
func indent(l string) int { return len(l) - len(strings.TrimLeft(l, " ")) }

// Apply is never called: Check never finds anything to change.
func (m *PackageFacts) Apply(context.Context, modules.Host, plan.Diff) error { return nil }

func (m *PackageFacts) SetFacts() map[string]any {
	return map[string]any{"ansible_facts": map[string]any{"packages": m.packages}}
}

func (m *PackageFacts) Result() map[string]any {
	return map[string]any{"ansible_facts": map[string]any{"packages": m.packages}}
}

var (
	_ modules.Module      = (*PackageFacts)(nil)
	_ modules.Provisioner = (*PackageFacts)(nil)
	_ modules.FactSetter  = (*PackageFacts)(nil)
	_ modules.Resulter    = (*PackageFacts)(nil)
)
