package node

import (
	"slices"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/modules/moduletest"
)

// The rule commands community.general.ufw builds, read off its main: the
// words in the order of its long format, "from any"/"to any" always (their
// defaults), "comment '%s'" only for ufw 0.35 and later, no insert with
// delete, and the string `commands` shows with its quotes.
func TestUFWRuleCommand(t *testing.T) {
	two := 2
	for _, tc := range []struct {
		args     map[string]any
		insertAt *int
		want     string
	}{
		{map[string]any{"rule": "allow", "port": "22", "proto": "tcp"}, nil,
			"/usr/sbin/ufw allow from any to any port 22 proto tcp"},
		{map[string]any{"rule": "limit", "port": 2222, "proto": "tcp", "comment": "ssh, slowly"}, nil,
			"/usr/sbin/ufw limit from any to any port 2222 proto tcp comment 'ssh, slowly'"},
		{map[string]any{"rule": "deny", "direction": "in", "interface": "eth0", "from": "10.0.0.0/8", "from_port": "53", "log": true}, nil,
			"/usr/sbin/ufw deny in on eth0 log from 10.0.0.0/8 port 53 to any"},
		{map[string]any{"rule": "allow", "route": true, "interface_in": "eth1", "interface_out": "eth0", "to": "10.1.0.0/16"}, nil,
			"/usr/sbin/ufw route allow in on eth1 out on eth0 from any to 10.1.0.0/16"},
		{map[string]any{"rule": "allow", "delete": true, "insert": 1, "app": "OpenSSH"}, nil,
			"/usr/sbin/ufw delete allow from any to any app 'OpenSSH'"},
		{map[string]any{"rule": "reject", "insert": 2, "to_port": "80:90", "proto": "udp"}, &two,
			"/usr/sbin/ufw insert 2 reject from any to any port 80:90 proto udp"},
	} {
		m := moduletest.New(t, "ufw", tc.args).(*UFW)
		if got := (ufwCmd{m.ruleCmd("/usr/sbin/ufw", tc.insertAt, true)}).String(); got != tc.want {
			t.Errorf("%v:\n got %s\nwant %s", tc.args, got, tc.want)
		}
	}
	m := moduletest.New(t, "ufw", map[string]any{"rule": "allow", "port": "22", "comment": "c"}).(*UFW)
	if got := m.ruleCmd("ufw", nil, false); slices.Contains(got, "comment") {
		t.Errorf("ufw before 0.35 gets no comment: %q", got)
	}
	if got := (ufwCmd{[]string{"/usr/bin/grep", "-h", "^### tuple", "/etc/ufw/user.rules"}}).String(); got != "/usr/bin/grep -h '^### tuple' /etc/ufw/user.rules" {
		t.Errorf("grep: %s", got)
	}
}

func TestUFWVersion(t *testing.T) {
	for _, tc := range []struct {
		out          string
		major, minor int
	}{
		// The module's greedy ".+" reads 0.36.2 as 6.2 (Python's re says
		// the same); any major above 0 has comments, so the answer holds.
		{"ufw 0.36.2\nCopyright 2008-2023 Canonical Ltd.\n", 6, 2},
		{"\nufw 0.35\n", 0, 35},
	} {
		if ma, mi, err := ufwVersion(tc.out); err != nil || ma != tc.major || mi != tc.minor {
			t.Errorf("%q: %d.%d %v", tc.out, ma, mi, err)
		}
	}
	if _, _, err := ufwVersion("something else\n"); err == nil || err.Error() != "Failed to get ufw version." {
		t.Errorf("bad version: %v", err)
	}
}

// insert_relative_to over `ufw status numbered` as the module counts it.
func TestUFWInsertAt(t *testing.T) {
	const numbered = `Status: active

     To                         Action      From
     --                         ------      ----
[ 1] 22/tcp                     ALLOW IN    Anywhere
[ 2] 80/tcp                     ALLOW IN    Anywhere
[ 3] 22/tcp (v6)                ALLOW IN    Anywhere (v6)
[ 4] 80/tcp (v6)                ALLOW IN    Anywhere (v6)
`
	for _, tc := range []struct {
		rel    string
		insert int
		at     int
		ok     bool
	}{
		{"first-ipv4", 0, 1, true},
		{"last-ipv4", 0, 2, true},
		{"first-ipv6", 0, 3, true},
		{"first-ipv6", 1, 4, true},
		{"last-ipv6", 0, 4, true},
		{"last-ipv6", 1, 5, false}, // past the last rule: the module appends
	} {
		if at, ok := ufwInsertAt(numbered, tc.insert, tc.rel); at != tc.at || ok != tc.ok {
			t.Errorf("%s+%d: %d %v, want %d %v", tc.rel, tc.insert, at, ok, tc.at, tc.ok)
		}
	}
	if _, ok := ufwInsertAt("Status: inactive\n", 1, "first-ipv4"); ok {
		t.Error("no rules: nothing to insert before")
	}
}

// The check-mode test on what ufw 0.36.2 prints (captured on a Debian 12
// test host with 22/tcp allowed).
func TestUFWRuleChanges(t *testing.T) {
	pre := "### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in\n### tuple ### allow tcp 22 ::/0 any ::/0 in\n"
	rules := func(v4, v6 string) string {
		return "*filter\n:ufw-user-input - [0:0]\n### RULES ###\n\n" + v4 + "-A ufw-user-input -p tcp --dport 22 -j ACCEPT\n\n### END RULES ###\nCOMMIT\n" +
			"*filter\n### RULES ###\n\n" + v6 + "### END RULES ###\nCOMMIT\nRules updated\nRules updated (v6)\n"
	}
	for _, tc := range []struct {
		name, dry, from string
		want            bool
	}{
		{"existing", "Skipping adding existing rule\nSkipping adding existing rule (v6)\n", "any", false},
		{"delete of a missing rule prints the rules as they are", rules("### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in\n", "### tuple ### allow tcp 22 ::/0 any ::/0 in\n"), "any", false},
		{"delete", rules("", ""), "any", true},
		{"new comment", rules("### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in comment=782079\n", "### tuple ### allow tcp 22 ::/0 any ::/0 in comment=782079\n"), "any", true},
		{"ipv4 source: only the v4 file is printed", "*filter\n### RULES ###\n### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in\n### tuple ### allow tcp 22 0.0.0.0/0 any 10.0.0.0/8 in\n### END RULES ###\nRules updated\n", "10.0.0.0/8", true},
		{"ipv4 source, there already", "*filter\n### RULES ###\n### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in\n### END RULES ###\nRules updated\n", "10.0.0.0/8", false},
	} {
		if got := ufwRuleChanges(pre, tc.dry, tc.from, "any"); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestUFWLoggingChanges(t *testing.T) {
	for _, tc := range []struct {
		level, want string
		changes     bool
	}{
		{"off", "on", true}, {"low", "on", false}, {"medium", "on", false}, {"low", "medium", true},
		{"medium", "medium", false}, {"low", "off", true}, {"off", "off", false}, {"off", "low", true},
	} {
		if got := ufwLoggingChanges(tc.level, tc.want); got != tc.changes {
			t.Errorf("%s → %s: %v", tc.level, tc.want, got)
		}
	}
}

func TestUFWBadArgs(t *testing.T) {
	for _, tc := range []struct {
		args map[string]any
		want string
	}{
		{map[string]any{"direction": "in"}, "one of the following is required: state, default, rule, logging"},
		{map[string]any{"rule": "allow", "name": "OpenSSH", "proto": "tcp"}, "mutually exclusive: name|proto|logging"},
		{map[string]any{"rule": "allow", "direction": "in", "interface_in": "eth0"}, "mutually exclusive: direction|interface_in"},
		{map[string]any{"rule": "allow", "interface": "eth0"}, "required by 'interface': direction"},
		{map[string]any{"default": "deny", "direction": "in"}, "For default, direction must be one of"},
		{map[string]any{"rule": "allow", "direction": "incoming"}, "For rules, direction must be one of"},
		{map[string]any{"rule": "allow", "interface_in": "a", "interface_out": "b"}, "Only route rules can combine interface_in and interface_out"},
		{map[string]any{"rule": "allow", "port": "22", "comment": "it's"}, "no single quote"},
		{map[string]any{"rule": "allow", "from": "10.0.0.1 10.0.0.2"}, "no spaces"},
		{map[string]any{"rule": "permit"}, "rule"},
		{map[string]any{"state": "on"}, "state"},
		{map[string]any{"rule": "allow", "proto": "icmp"}, "proto"},
	} {
		moduletest.BadArgs(t, "ufw", tc.args, tc.want)
	}
	m := moduletest.New(t, "ufw", map[string]any{"policy": "deny", "if": "eth0", "direction": "incoming", "src": "1.2.3.4", "dest": "any", "app": "x"}).(*UFW)
	if m.Default != "deny" || m.Interface != "eth0" || m.FromIP != "1.2.3.4" || m.Name != "x" {
		t.Errorf("aliases: %+v", m)
	}
	if !strings.Contains(moduletest.New(t, "community.general.ufw", map[string]any{"state": "reloaded"}).(*UFW).State, "reloaded") {
		t.Error("FQCN")
	}
}
