package node

import (
	"encoding/json"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/modules/moduletest"
)

// iptablesRuleCases: task arguments and the rule ansible-core 2.14's
// construct_rule builds for them. The expected words were printed by the
// module's own function (testdata/iptables_construct.py imports
// ansible.modules.iptables and calls construct_rule with the arguments as
// AnsibleModule would hand them over); TestIptablesRuleLikeAnsible calls it
// again where ansible-core is installed, so the table cannot drift from it.
var iptablesRuleCases = []struct {
	args map[string]any
	want []string
}{
	{map[string]any{"chain": "INPUT", "protocol": "tcp", "source": "10.0.0.0/8", "destination_port": 22, "ctstate": "NEW", "jump": "ACCEPT", "comment": "ssh from admins"},
		[]string{"-p", "tcp", "-s", "10.0.0.0/8", "-j", "ACCEPT", "--destination-port", "22", "-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment", "ssh from admins"}},
	{map[string]any{"chain": "INPUT", "source": "!192.168.0.0/16", "in_interface": "!lo", "protocol": "!udp", "jump": "DROP"},
		[]string{"!", "-p", "udp", "!", "-s", "192.168.0.0/16", "-j", "DROP", "!", "-i", "lo"}},
	{map[string]any{"chain": "INPUT", "match": "conntrack", "ctstate": "ESTABLISHED,RELATED", "jump": "ACCEPT"},
		[]string{"-m", "conntrack", "-j", "ACCEPT", "--ctstate", "ESTABLISHED,RELATED"}},
	{map[string]any{"chain": "INPUT", "match": []any{"state"}, "ctstate": []any{"ESTABLISHED", "RELATED"}, "jump": "ACCEPT"},
		[]string{"-m", "state", "-j", "ACCEPT", "--state", "ESTABLISHED,RELATED"}},
	{map[string]any{"chain": "INPUT", "protocol": "tcp", "destination_ports": []any{"80", "443", "8000:8080"}, "jump": "ACCEPT"},
		[]string{"-p", "tcp", "-j", "ACCEPT", "-m", "multiport", "--dports", "80,443,8000:8080"}},
	{map[string]any{"chain": "INPUT", "protocol": "tcp", "log_prefix": "IPTABLES:INFO: ", "log_level": "info", "jump": "LOG"},
		[]string{"-p", "tcp", "-j", "LOG", "--log-prefix", "IPTABLES:INFO: ", "--log-level", "info"}},
	{map[string]any{"chain": "INPUT", "protocol": "tcp", "syn": "match", "limit": "3/second", "limit_burst": 20, "jump": "ACCEPT"},
		[]string{"-p", "tcp", "-j", "ACCEPT", "--syn", "-m", "limit", "--limit", "3/second", "--limit-burst", "20"}},
	{map[string]any{"chain": "OUTPUT", "uid_owner": "!1000", "gid_owner": "33", "jump": "DROP"},
		[]string{"-j", "DROP", "-m", "owner", "!", "--uid-owner", "1000", "-m", "owner", "--gid-owner", "33"}},
	{map[string]any{"chain": "OUTPUT", "uid_owner": "match", "jump": "DROP"},
		[]string{"-j", "DROP", "-m", "owner", "--uid-owner", "--uid-owner", "match"}},
	{map[string]any{"chain": "INPUT", "protocol": "tcp", "reject_with": "tcp-reset"},
		[]string{"-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset"}},
	{map[string]any{"chain": "INPUT", "ip_version": "ipv6", "protocol": "ipv6-icmp", "icmp_type": "echo-request", "jump": "ACCEPT"},
		[]string{"-p", "ipv6-icmp", "-j", "ACCEPT", "--icmpv6-type", "echo-request"}},
	{map[string]any{"chain": "INPUT", "protocol": "tcp", "tcp_flags": map[string]any{"flags": []any{"ALL"}, "flags_set": []any{"ACK", "RST", "SYN", "FIN"}}, "jump": "DROP"},
		[]string{"-p", "tcp", "--tcp-flags", "ALL", "ACK,RST,SYN,FIN", "-j", "DROP"}},
	{map[string]any{"chain": "INPUT", "src_range": "192.168.1.100-192.168.1.199", "dst_range": "10.0.0.1-10.0.0.50", "jump": "ACCEPT"},
		[]string{"-j", "ACCEPT", "-m", "iprange", "--src-range", "192.168.1.100-192.168.1.199", "--dst-range", "10.0.0.1-10.0.0.50"}},
	{map[string]any{"chain": "INPUT", "match": []any{"iprange"}, "src_range": "192.168.1.100-192.168.1.199", "jump": "ACCEPT"},
		[]string{"-m", "iprange", "-j", "ACCEPT", "--src-range", "192.168.1.100-192.168.1.199"}},
	{map[string]any{"chain": "INPUT", "match_set": "admins", "match_set_flags": "src,dst", "jump": "ACCEPT"},
		[]string{"-j", "ACCEPT", "-m", "set", "--match-set", "admins", "src,dst"}},
	{map[string]any{"chain": "INPUT", "match": []any{"set"}, "match_set": "admins", "match_set_flags": "src", "jump": "ACCEPT"},
		[]string{"-m", "set", "-j", "ACCEPT", "--match-set", "admins", "src"}},
	{map[string]any{"chain": "PREROUTING", "table": "nat", "wait": 5, "protocol": "tcp", "in_interface": "eth0", "destination_port": 80, "jump": "DNAT", "to_destination": "10.0.0.5:8080"},
		[]string{"-w", "5", "-p", "tcp", "-j", "DNAT", "--to-destination", "10.0.0.5:8080", "-i", "eth0", "--destination-port", "80"}},
	{map[string]any{"chain": "POSTROUTING", "table": "nat", "out_interface": "eth0", "source": "10.88.0.0/24", "jump": "MASQUERADE", "to_ports": "1024-65535", "protocol": "tcp"},
		[]string{"-p", "tcp", "-s", "10.88.0.0/24", "-j", "MASQUERADE", "-o", "eth0", "--to-ports", "1024-65535"}},
	{map[string]any{"chain": "PREROUTING", "table": "mangle", "jump": "TEE", "gateway": "10.0.0.9"},
		[]string{"-j", "TEE", "--gateway", "10.0.0.9"}},
	{map[string]any{"chain": "INPUT", "protocol": "tcp", "syn": "negate", "fragment": "!", "goto": "other", "source_port": "1024:65535", "jump": "ACCEPT"},
		[]string{"-p", "tcp", "-j", "ACCEPT", "-g", "other", "!", "-f", "", "--source-port", "1024:65535", "!", "--syn"}},
	{map[string]any{"chain": "POSTROUTING", "table": "mangle", "jump": "DSCP", "set_dscp_mark_class": "CS1"},
		[]string{"-j", "DSCP", "--set-dscp-class", "CS1"}},
	{map[string]any{"chain": "INPUT", "set_counters": "0 0", "to_source": "1.2.3.4", "jump": "ACCEPT"},
		[]string{"-j", "ACCEPT", "--to-source", "1.2.3.4", "-c", "0 0"}},
	{map[string]any{"chain": "INPUT", "state": "absent"},
		[]string{}},
	{map[string]any{"chain": "INPUT", "log_prefix": "X "},
		[]string{"--log-prefix", "X "}},
}

func TestIptablesRule(t *testing.T) {
	for _, tc := range iptablesRuleCases {
		m := moduletest.New(t, "iptables", tc.args).(*Iptables)
		got := m.construct(waitFor("1.8.9 (nf_tables)", m.Wait), m.Jump)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%v:\n got %q\nwant %q", tc.args, got, tc.want)
		}
		if r := m.Result()["rule"]; r != strings.Join(tc.want, " ") {
			t.Errorf("%v: result rule %q", tc.args, r)
		}
	}
}

// The table above against ansible-core itself, where it is installed.
func TestIptablesRuleLikeAnsible(t *testing.T) {
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import ansible.modules.iptables").Run(); err != nil {
		t.Skipf("ansible-core not importable by %s: %v", py, err)
	}
	var args []map[string]any
	for _, tc := range iptablesRuleCases {
		args = append(args, tc.args)
	}
	in, _ := json.Marshal(args)
	cmd := exec.Command(py, "testdata/iptables_construct.py")
	cmd.Stdin = strings.NewReader(string(in))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	var rules [][]string
	if err := json.Unmarshal(out, &rules); err != nil {
		t.Fatal(err)
	}
	for i, tc := range iptablesRuleCases {
		if !slices.Equal(rules[i], tc.want) && !(len(rules[i]) == 0 && len(tc.want) == 0) {
			t.Errorf("%v: ansible builds %q, the table says %q", tc.args, rules[i], tc.want)
		}
	}
}

// The commands main runs around the rule: push_arguments puts the table,
// the action and the chain first and the rule number only after -I; log
// options imply jump LOG (after the result's rule was built); -w goes before
// 1.6.0.
func TestIptablesCommands(t *testing.T) {
	m := moduletest.New(t, "iptables", map[string]any{"chain": "INPUT", "action": "insert", "rule_num": 5, "protocol": "tcp", "jump": "ACCEPT", "wait": "3"}).(*Iptables)
	rule := m.construct(waitFor("1.8.9 (legacy)", m.Wait), m.Jump)
	if got, want := m.iptablesCmd("/usr/sbin/iptables", "-I", rule), []string{"/usr/sbin/iptables", "-t", "filter", "-I", "INPUT", "5", "-w", "3", "-p", "tcp", "-j", "ACCEPT"}; !slices.Equal(got, want) {
		t.Errorf("insert: %q", got)
	}
	if got, want := m.iptablesCmd("iptables", "-A", rule), []string{"iptables", "-t", "filter", "-A", "INPUT", "-w", "3", "-p", "tcp", "-j", "ACCEPT"}; !slices.Equal(got, want) {
		t.Errorf("append has no rule number: %q", got)
	}
	if got := m.construct(waitFor("1.4.21", m.Wait), m.Jump); slices.Contains(got, "-w") {
		t.Errorf("iptables 1.4.21 takes -w without seconds, which Ansible then leaves out: %q", got)
	}
	f := moduletest.New(t, "iptables", map[string]any{"flush": true, "table": "nat"}).(*Iptables)
	if got, want := f.iptablesCmd("iptables", "-F", nil), []string{"iptables", "-t", "nat", "-F"}; !slices.Equal(got, want) {
		t.Errorf("flush without chain: %q", got)
	}
	l := moduletest.New(t, "iptables", map[string]any{"chain": "INPUT", "log_prefix": "X "}).(*Iptables)
	if got := l.construct("", "LOG"); !slices.Equal(got, []string{"-j", "LOG", "--log-prefix", "X "}) {
		t.Errorf("log: %q", got)
	}
	if got := l.Result()["rule"]; got != "--log-prefix X " {
		t.Errorf("the result's rule is built before jump LOG is implied: %q", got)
	}
	if !moduletest.New(t, "iptables", map[string]any{"chain": "X", "state": "absent"}).(*Iptables).Unverified() {
		t.Error("absent chain without chain_management is a change on every run")
	}
	if moduletest.New(t, "iptables", map[string]any{"chain": "X", "state": "absent", "chain_management": true}).(*Iptables).Unverified() {
		t.Error("absent chain with chain_management is verified")
	}
}

func TestIptablesBadArgs(t *testing.T) {
	for _, tc := range []struct {
		args map[string]any
		want string
	}{
		{map[string]any{"protocol": "tcp"}, "Either chain or flush parameter must be specified."},
		{map[string]any{"chain": "INPUT", "log_prefix": "x", "jump": "DROP"}, "Logging options can only be used with the LOG jump target."},
		{map[string]any{"chain": "INPUT", "flush": true, "policy": "DROP"}, "mutually exclusive: flush|policy"},
		{map[string]any{"chain": "X", "set_dscp_mark": "1", "set_dscp_mark_class": "CS1"}, "mutually exclusive: set_dscp_mark|set_dscp_mark_class"},
		{map[string]any{"chain": "X", "jump": "TEE"}, "missing: gateway"},
		{map[string]any{"chain": "X", "match_set": "s"}, "match_set needs match_set_flags"},
		{map[string]any{"chain": "X", "match_set": "s", "match_set_flags": "both"}, "match_set_flags"},
		{map[string]any{"chain": "X", "tcp_flags": map[string]any{"flags": []any{"ALL"}}}, "both flags and flags_set"},
		{map[string]any{"chain": "X", "policy": "REJECT"}, "policy"},
		{map[string]any{"chain": "X", "table": "broute"}, "table"},
		{map[string]any{"chain": "X", "log_level": "loud"}, "log_level"},
		{map[string]any{"chain": "X", "syn": "yes"}, "syn"},
		{map[string]any{"chain": "X", "destination": "1.2.3.4", "sport": "1"}, "unknown"},
	} {
		moduletest.BadArgs(t, "iptables", tc.args, tc.want)
	}
}
