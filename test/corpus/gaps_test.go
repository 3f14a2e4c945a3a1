package corpus

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// A gap is one missing gpuctl feature, named so that the items it blocks can be counted: the
// same missing module in ten roles is one gap blocking ten items.
var gapRules = []struct {
	re   *regexp.Regexp
	name func(m []string) string
}{
	// a filter plugin of a collection (community.sops._latest_version) is Python code of that
	// collection; gonja cannot even parse the dotted name, and reports it in various ways
	{regexp.MustCompile(`(?s)failed to parse template '.*\| ?((?:[a-z_]+)\.(?:[a-z_]+))\.[a-z_]+`), func(m []string) string {
		return "filter plugins of collection " + m[1] + " (out of scope)"
	}},
	{regexp.MustCompile(`unknown module "action"`), func([]string) string { return "loader: action: (module named inside the task)" }},
	{regexp.MustCompile(`module (\S+): unknown argument "([^"]+)"`), func(m []string) string {
		return "missing argument: " + m[1] + " " + m[2]
	}},
	{regexp.MustCompile(`module (\S+): missing required argument "([^"]+)"`), func(m []string) string {
		return "module argument required by gpuctl, optional in Ansible: " + m[1] + " " + m[2]
	}},
	{regexp.MustCompile(`module (\S+): dest "~`), func(m []string) string { return "module " + m[1] + ": ~ in dest" }},
	{regexp.MustCompile(`expected true or false, got "\{\{`), func([]string) string {
		return "loader: keyword as a Jinja expression (become, no_log, check_mode: \"{{ ... }}\")"
	}},
	{regexp.MustCompile(`\\\\?\.'|failed to parse template '.*\\\.`), func([]string) string {
		return "template: backslash escape in a string literal ('\\.')"
	}},
	{regexp.MustCompile(`Unbalanced parenthesis|Malformed 'set' tag args. \(Line: 1 Col: \d+, near "\n`), func([]string) string {
		return "template: expression spanning lines inside ( )"
	}},
	{regexp.MustCompile(`role "?[^" ]+"? not found`), func([]string) string { return "loader: role not found" }},
	// A block whose tasks failed to load is reported once more as a task without a module.
	// (a loader quirk: the block is listed again as "task ... has no module")
	{regexp.MustCompile(`has no module`), func([]string) string { return "" }},
	{regexp.MustCompile(`unknown keyword "([^"]+)"`), func(m []string) string { return "loader: task keyword " + m[1] }},
	{regexp.MustCompile(`lookup plugin "([^"]+)" is not supported|unknown lookup plugin "([^"]+)"`), func(m []string) string { return "missing lookup: " + m[1] + m[2] }},
	{regexp.MustCompile(`gather_subset: unknown subset "([^"]+)"`), func(m []string) string { return "missing setup gather_subset: " + m[1] }},
	{regexp.MustCompile(`(?:filter|test) "?([\w.]+)"? (?:is )?(?:not found|unknown|not supported)|unknown (?:filter|test) "?([\w.]+)`), func(m []string) string {
		return "missing filter/test: " + m[1] + m[2]
	}},
	{regexp.MustCompile(`notifies handler`), func([]string) string { return "" }}, // follows from a handler that did not load
}

var multiHead = regexp.MustCompile(`^\d+ errors:$|: \d+ errors:$|^\d+ error\(s\):$`)

var unknownModule = regexp.MustCompile(`unknown module "([^"]+)"`)

// moduleGap names a missing module: Ansible's own (builtin, posix, general) are gpuctl's to
// write; Windows modules and the modules a collection brings for its own product
// (community.zabbix.zabbix_host, or proxysql_global_variables used unqualified inside
// community.proxysql's role) are out of scope for a Debian provisioning tool, and counted as
// one gap per collection.
func moduleGap(m *Manifest, it Item, name string) string {
	short := name
	for _, p := range []string{"ansible.builtin.", "ansible.legacy.", "ansible.posix.", "community.general."} {
		short = strings.TrimPrefix(short, p)
	}
	switch {
	case strings.HasPrefix(short, "win_") || strings.HasPrefix(short, "ansible.windows.") || strings.HasPrefix(short, "community.windows."):
		return "Windows modules (out of scope)"
	case strings.Count(short, ".") >= 2:
		parts := strings.SplitN(short, ".", 3)
		return "modules of collection " + parts[0] + "." + parts[1] + " (out of scope)"
	}
	for prefix, coll := range map[string]string{"postgresql_": "community.postgresql", "mysql_": "community.mysql"} {
		if strings.HasPrefix(short, prefix) {
			return "modules of collection " + coll + " (out of scope)"
		}
	}
	own := filepath.Join(m.Root, strings.ReplaceAll(it.Collection, ".", "/"), "plugins", "modules", short+".py")
	if _, err := os.Stat(own); err == nil {
		return "modules of collection " + it.Collection + " (out of scope)"
	}
	return "missing module: " + short
}

// classify turns error messages into gaps, each named once; messages no rule knows are kept
// whole (first line), so a new kind of failure shows up in the report instead of vanishing.
func classify(m *Manifest, it Item, msgs []string) []string {
	seen := map[string]bool{}
	var out []string
	var parts []string
	for _, msg := range msgs {
		// one failure may carry a whole list ("2 errors:\n  * ...\n  * ...")
		for _, p := range strings.Split(msg, "\n  * ") {
			if !multiHead.MatchString(p) {
				parts = append(parts, p)
			}
		}
	}
	for _, msg := range parts {
		name := "other: " + firstLine(msg)
		if mm := unknownModule.FindStringSubmatch(msg); mm != nil && mm[1] != "action" {
			name = moduleGap(m, it, mm[1])
		} else {
			for _, r := range gapRules {
				if sub := r.re.FindStringSubmatch(msg); sub != nil {
					name = r.name(sub)
					break
				}
			}
		}
		if name != "" && !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	return out
}

var errPrefix = regexp.MustCompile(`^(invalid playbook: )?\S+:\d+(?: \(task "(?:[^"\\]|\\.)*"\))?: `)

// firstLine keeps what the error says without where (file:line, task), so that the same
// failure in two items is one gap.
func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	s = errPrefix.ReplaceAllString(s, "")
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}
