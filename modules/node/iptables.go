package node

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:    "iptables",
		Summary: "Add or remove one iptables/ip6tables rule, set a chain's policy, flush a chain, or create and delete chains (ansible.builtin.iptables)",
		CheckMode: "Runs iptables -C for the rule and iptables -L for the chain and its policy, as the Ansible module does, " +
			"and reports the rule, chain or policy that would change. Changes nothing.",
		Example: `- name: Accept SSH from the admin network
  ansible.builtin.iptables:
    chain: INPUT
    protocol: tcp
    source: 10.0.0.0/8
    destination_port: "22"
    ctstate: NEW
    jump: ACCEPT
    comment: ssh from admins`,
		New: func() modules.Module { return &Iptables{} },
	})
}

// Iptables is ansible.builtin.iptables (ansible-core 2.14). The rule is
// built word for word as the Ansible module's construct_rule builds it, so
// `iptables -C` finds the rules either tool added, and the result's rule
// string is the one Ansible registers. Like the Ansible module it works on
// the running firewall only (nothing is saved), and changed means what it
// means there: a flush is always a change, and state absent without a rule
// reports a present chain as a change even when chain_management is off
// and nothing is deleted.
type Iptables struct {
	Table            string          `yaml:"table" default:"filter" choices:"filter,nat,mangle,raw,security" doc:"the table the rule or chain is in"`
	State            string          `yaml:"state" default:"present" choices:"absent,present" doc:"whether the rule (or, without rule arguments, the chain) should be there"`
	Action           string          `yaml:"action" default:"append" choices:"append,insert" doc:"append the rule at the end of the chain or insert it at the top (or at rule_num)"`
	IPVersion        string          `yaml:"ip_version" default:"ipv4" choices:"ipv4,ipv6" doc:"iptables or ip6tables"`
	Chain            string          `yaml:"chain" doc:"the chain (built-in or user-defined); required unless flush"`
	RuleNum          string          `yaml:"rule_num" doc:"with action insert: the rule's position in the chain"`
	Protocol         string          `yaml:"protocol" doc:"-p: tcp, udp, icmp, all, a number; a leading ! negates"`
	Wait             string          `yaml:"wait" doc:"-w: seconds to wait for the xtables lock"`
	Source           string          `yaml:"source" doc:"-s: source address[/mask], ! negates"`
	ToSource         string          `yaml:"to_source" doc:"--to-source (SNAT)"`
	Destination      string          `yaml:"destination" doc:"-d: destination address[/mask], ! negates"`
	ToDestination    string          `yaml:"to_destination" doc:"--to-destination (DNAT)"`
	Match            []string        `yaml:"match" doc:"-m for each extension (a string is split at commas, as Ansible does)"`
	TCPFlags         *IptablesTCPSet `yaml:"tcp_flags" doc:"--tcp-flags: a mapping with flags (the flags to examine) and flags_set (those that must be set)"`
	Jump             string          `yaml:"jump" doc:"-j: the target (ACCEPT, DROP, a chain, LOG, ...)"`
	Gateway          string          `yaml:"gateway" doc:"--gateway of the TEE target; required with jump TEE"`
	LogPrefix        string          `yaml:"log_prefix" doc:"--log-prefix; jump defaults to LOG"`
	LogLevel         string          `yaml:"log_level" choices:"0,1,2,3,4,5,6,7,emerg,alert,crit,error,warning,notice,info,debug" doc:"--log-level; jump defaults to LOG"`
	Goto             string          `yaml:"goto" doc:"-g: continue in this chain"`
	InInterface      string          `yaml:"in_interface" doc:"-i: the interface a packet came in on, ! negates"`
	OutInterface     string          `yaml:"out_interface" doc:"-o: the interface a packet goes out on, ! negates"`
	Fragment         string          `yaml:"fragment" doc:"-f"`
	SetCounters      string          `yaml:"set_counters" doc:"-c: packet and byte counters"`
	SourcePort       string          `yaml:"source_port" doc:"--source-port: a port or first:last range"`
	DestinationPort  string          `yaml:"destination_port" doc:"--destination-port: a port or first:last range"`
	DestinationPorts []string        `yaml:"destination_ports" doc:"-m multiport --dports: ports or ranges"`
	ToPorts          string          `yaml:"to_ports" doc:"--to-ports (REDIRECT, MASQUERADE)"`
	SetDSCPMark      string          `yaml:"set_dscp_mark" doc:"--set-dscp (DSCP target)"`
	SetDSCPMarkClass string          `yaml:"set_dscp_mark_class" doc:"--set-dscp-class (DSCP target)"`
	Comment          string          `yaml:"comment" doc:"-m comment --comment"`
	Ctstate          []string        `yaml:"ctstate" doc:"--ctstate (with match conntrack or state, or adding -m conntrack): NEW, ESTABLISHED, RELATED, INVALID, ..."`
	SrcRange         string          `yaml:"src_range" doc:"-m iprange --src-range"`
	DstRange         string          `yaml:"dst_range" doc:"-m iprange --dst-range"`
	MatchSet         string          `yaml:"match_set" doc:"-m set --match-set: an ipset"`
	MatchSetFlags    string          `yaml:"match_set_flags" doc:"src, dst, src,dst or dst,src: the flags of match_set (required with it)"`
	Limit            string          `yaml:"limit" doc:"-m limit --limit: average rate, such as 3/second"`
	LimitBurst       string          `yaml:"limit_burst" doc:"-m limit --limit-burst"`
	UIDOwner         string          `yaml:"uid_owner" doc:"-m owner --uid-owner (OUTPUT), ! negates"`
	GIDOwner         string          `yaml:"gid_owner" doc:"-m owner --gid-owner (OUTPUT), ! negates"`
	RejectWith       string          `yaml:"reject_with" doc:"--reject-with; jump defaults to REJECT"`
	ICMPType         string          `yaml:"icmp_type" doc:"--icmp-type (ipv4) or --icmpv6-type (ipv6)"`
	Syn              string          `yaml:"syn" default:"ignore" choices:"ignore,match,negate" doc:"--syn: match only (or, negate, all but) TCP SYN packets"`
	Flush            bool            `yaml:"flush" doc:"flush the chain (or, without chain, the whole table); always a change"`
	Policy           string          `yaml:"policy" choices:"ACCEPT,DROP,QUEUE,RETURN" doc:"set the built-in chain's policy; nothing else of the task is done"`
	ChainManagement  bool            `yaml:"chain_management" doc:"create the chain when a rule goes into a missing one; delete it with state absent and no rule arguments"`

	resultRule string // the rule the result shows: built before jump LOG is implied, as Ansible builds it
}

// IptablesTCPSet is tcp_flags.
type IptablesTCPSet struct {
	Flags    []string `yaml:"flags" doc:"the flags to examine"`
	FlagsSet []string `yaml:"flags_set" doc:"the flags that must be set"`
}

var iptablesBins = map[string]string{"ipv4": "iptables", "ipv6": "ip6tables"}

// Provision splits comma strings as Ansible's list type does and keeps the
// rule the result shows.
func (m *Iptables) Provision() {
	m.Match = splitCommaList(m.Match)
	m.Ctstate = splitCommaList(m.Ctstate)
	m.DestinationPorts = splitCommaList(m.DestinationPorts)
	m.resultRule = strings.Join(m.construct(m.Wait, m.Jump), " ")
}

// splitCommaList is Ansible's str-to-list conversion: a value given as one
// string "a,b" is the list [a b]. (A one-element list is split too: the
// decoder cannot tell them apart.)
func splitCommaList(l []string) []string {
	if len(l) == 1 && strings.Contains(l[0], ",") {
		return strings.Split(l[0], ",")
	}
	return l
}

func (m *Iptables) Validate() error {
	if m.SetDSCPMark != "" && m.SetDSCPMarkClass != "" {
		return errors.New("parameters are mutually exclusive: set_dscp_mark|set_dscp_mark_class")
	}
	if m.Flush && m.Policy != "" {
		return errors.New("parameters are mutually exclusive: flush|policy")
	}
	if strings.EqualFold(m.Jump, "tee") && m.Gateway == "" {
		return fmt.Errorf("jump is %s but all of the following are missing: gateway", m.Jump)
	}
	if !m.Flush && m.Chain == "" {
		return errors.New("Either chain or flush parameter must be specified.")
	}
	if (m.LogPrefix != "" || m.LogLevel != "") && m.Jump != "" && m.Jump != "LOG" {
		return errors.New("Logging options can only be used with the LOG jump target.")
	}
	switch m.MatchSetFlags {
	case "", "src", "dst", "src,dst", "dst,src":
	default:
		return fmt.Errorf("match_set_flags %q: must be one of src, dst, src,dst, dst,src", m.MatchSetFlags)
	}
	// The Ansible module joins a missing flag list or match_set_flags into
	// the rule and dies with a TypeError; say what is missing instead.
	if m.MatchSet != "" && m.MatchSetFlags == "" {
		return errors.New("match_set needs match_set_flags")
	}
	if m.TCPFlags != nil && (m.TCPFlags.Flags == nil) != (m.TCPFlags.FlagsSet == nil) {
		return errors.New("tcp_flags needs both flags and flags_set")
	}
	return nil
}

// Unverified: a flush is a change on every run, and so is a present chain
// under state absent without a rule when chain_management is off (Ansible
// reports it and deletes nothing).
func (m *Iptables) Unverified() bool {
	return m.Flush || (m.Policy == "" && m.State == "absent" && m.resultRule == "" && !m.ChainManagement)
}

// Result is what the Ansible module returns besides changed.
func (m *Iptables) Result() map[string]any {
	r := map[string]any{
		"ip_version": m.IPVersion, "table": m.Table, "chain": nil, "flush": m.Flush,
		"rule": m.resultRule, "state": m.State, "chain_management": m.ChainManagement,
	}
	if m.Chain != "" {
		r["chain"] = m.Chain
	}
	return r
}

// param is append_param: a value starting with ! negates the flag.
func param(rule []string, v, flag string) []string {
	switch {
	case v == "":
		return rule
	case v[0] == '!':
		return append(rule, "!", flag, v[1:])
	}
	return append(rule, flag, v)
}

// matchFlag is append_match_flag.
func matchFlag(rule []string, v, flag string, negatable bool) []string {
	switch {
	case v == "match":
		return append(rule, flag)
	case negatable && v == "negate":
		return append(rule, "!", flag)
	}
	return rule
}

func csv(rule []string, l []string, flag string) []string {
	if len(l) == 0 {
		return rule
	}
	return append(rule, flag, strings.Join(l, ","))
}

func match(rule []string, on bool, name string) []string {
	if on {
		return append(rule, "-m", name)
	}
	return rule
}

// construct is the Ansible module's construct_rule, word for word (the
// order of the flags is part of what -C compares), with wait and jump as
// main has adjusted them.
func (m *Iptables) construct(wait, jump string) []string {
	var r []string
	if wait != "" {
		r = append(r, "-w", wait)
	}
	r = param(r, m.Protocol, "-p")
	r = param(r, m.Source, "-s")
	r = param(r, m.Destination, "-d")
	for _, x := range m.Match {
		r = param(r, x, "-m")
	}
	if f := m.TCPFlags; f != nil && f.Flags != nil && f.FlagsSet != nil {
		r = append(r, "--tcp-flags", strings.Join(f.Flags, ","), strings.Join(f.FlagsSet, ","))
	}
	r = param(r, jump, "-j")
	if strings.EqualFold(jump, "tee") {
		r = param(r, m.Gateway, "--gateway")
	}
	r = param(r, m.LogPrefix, "--log-prefix")
	r = param(r, m.LogLevel, "--log-level")
	r = param(r, m.ToDestination, "--to-destination")
	r = match(r, len(m.DestinationPorts) > 0, "multiport")
	r = csv(r, m.DestinationPorts, "--dports")
	r = param(r, m.ToSource, "--to-source")
	r = param(r, m.Goto, "-g")
	r = param(r, m.InInterface, "-i")
	r = param(r, m.OutInterface, "-o")
	r = param(r, m.Fragment, "-f")
	r = param(r, m.SetCounters, "-c")
	r = param(r, m.SourcePort, "--source-port")
	r = param(r, m.DestinationPort, "--destination-port")
	r = param(r, m.ToPorts, "--to-ports")
	r = param(r, m.SetDSCPMark, "--set-dscp")
	r = param(r, m.SetDSCPMarkClass, "--set-dscp-class")
	r = matchFlag(r, m.Syn, "--syn", true)
	switch {
	case slices.Contains(m.Match, "conntrack"):
		r = csv(r, m.Ctstate, "--ctstate")
	case slices.Contains(m.Match, "state"):
		r = csv(r, m.Ctstate, "--state")
	case len(m.Ctstate) > 0:
		r = match(r, true, "conntrack")
		r = csv(r, m.Ctstate, "--ctstate")
	}
	if slices.Contains(m.Match, "iprange") || m.SrcRange != "" || m.DstRange != "" {
		r = match(r, !slices.Contains(m.Match, "iprange"), "iprange")
		r = param(r, m.SrcRange, "--src-range")
		r = param(r, m.DstRange, "--dst-range")
	}
	if slices.Contains(m.Match, "set") || m.MatchSet != "" {
		r = match(r, !slices.Contains(m.Match, "set"), "set")
		r = param(r, m.MatchSet, "--match-set")
		if m.MatchSetFlags != "" { // append_match_flag(rule, 'match', flags): the flags as one word
			r = append(r, m.MatchSetFlags)
		}
	}
	r = match(r, m.Limit != "" || m.LimitBurst != "", "limit")
	r = param(r, m.Limit, "--limit")
	r = param(r, m.LimitBurst, "--limit-burst")
	r = match(r, m.UIDOwner != "", "owner")
	r = matchFlag(r, m.UIDOwner, "--uid-owner", true)
	r = param(r, m.UIDOwner, "--uid-owner")
	r = match(r, m.GIDOwner != "", "owner")
	r = matchFlag(r, m.GIDOwner, "--gid-owner", true)
	r = param(r, m.GIDOwner, "--gid-owner")
	if jump == "" && m.RejectWith != "" {
		r = append(r, "-j", "REJECT")
	}
	r = param(r, m.RejectWith, "--reject-with")
	icmp := "--icmp-type"
	if m.IPVersion == "ipv6" {
		icmp = "--icmpv6-type"
	}
	r = param(r, m.ICMPType, icmp)
	r = match(r, m.Comment != "", "comment")
	return param(r, m.Comment, "--comment")
}

// iptablesCmd is push_arguments: the table, the action on the chain, the
// rule number for -I, then the rule when there is one.
func (m *Iptables) iptablesCmd(bin, action string, rule []string) []string {
	cmd := []string{bin, "-t", m.Table, action}
	if m.Chain != "" { // a flush without chain: Ansible's None is dropped from the argv
		cmd = append(cmd, m.Chain)
	}
	if action == "-I" && m.RuleNum != "" {
		cmd = append(cmd, m.RuleNum)
	}
	return append(cmd, rule...)
}

// looseVersion is the numeric start of LooseVersion's parts ("1.8.9
// (nf_tables)" is 1 8 9), which is all the comparisons below look at.
func looseVersion(s string) []int {
	var out []int
	for _, p := range strings.Split(strings.Fields(s + " ")[0], ".") {
		n, err := strconv.Atoi(p)
		if err != nil {
			break
		}
		out = append(out, n)
	}
	return out
}

// waitFor is main's wait adjustment: -w takes seconds from 1.6.0, takes no
// value from 1.4.20, and does not exist before.
func waitFor(version, wait string) string {
	v := looseVersion(version)
	if slices.Compare(v, []int{1, 6, 0}) < 0 { // '' before 1.6.0, None before 1.4.20: no -w either way
		return ""
	}
	return wait
}

var policyRe = regexp.MustCompile(`\(policy ([A-Z]+)\)`)

func (m *Iptables) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	c := h.Conn()
	bin, err := binPath(ctx, c, iptablesBins[m.IPVersion])
	if err != nil {
		return plan.Diff{}, err
	}
	jump := m.Jump
	if (m.LogPrefix != "" || m.LogLevel != "") && jump == "" {
		jump = "LOG"
	}
	out, err := output(ctx, c, conn.Join(bin, "--version"))
	if err != nil {
		return plan.Diff{}, err
	}
	_, version, _ := strings.Cut(out, "v")
	rule := m.construct(waitFor(version, m.Wait), jump)

	s := &steps{}
	res := iptablesBins[m.IPVersion] + ":" + m.Table + "/" + m.Chain
	run := func(argv []string) func(ctx context.Context, c conn.Conn) error {
		return func(ctx context.Context, c conn.Conn) error { return sh(ctx, c, conn.Join(argv...)) }
	}
	// -L as the module runs it, with -n: the same exit status and chain
	// header without a reverse DNS lookup for each rule's addresses.
	chainPresent := func() (bool, error) {
		r, err := c.Run(ctx, conn.Join(append(m.iptablesCmd(bin, "-L", nil), "-n")...))
		return err == nil && r.OK(), err
	}
	switch {
	case m.Flush:
		if m.Chain == "" {
			res = iptablesBins[m.IPVersion] + ":" + m.Table
		}
		s.add(plan.Change{Resource: res, Action: plan.Delete, Field: "rules", After: "(flushed)"}, run(m.iptablesCmd(bin, "-F", nil)))
	case m.Policy != "":
		out, err := output(ctx, c, conn.Join(append(m.iptablesCmd(bin, "-L", nil), "-n")...))
		if err != nil {
			return plan.Diff{}, err
		}
		first, _, _ := strings.Cut(out, "\n")
		p := policyRe.FindStringSubmatch(first)
		if p == nil {
			return plan.Diff{}, errors.New("Can't detect current policy")
		}
		if p[1] != m.Policy {
			s.add(plan.Change{Resource: res, Action: plan.Update, Field: "policy", Before: p[1], After: m.Policy},
				run(append(m.iptablesCmd(bin, "-P", nil), m.Policy)))
		}
	case m.State == "absent" && m.resultRule == "":
		present, err := chainPresent()
		if err != nil {
			return plan.Diff{}, err
		}
		if present {
			var do func(ctx context.Context, c conn.Conn) error
			if m.ChainManagement {
				do = run(m.iptablesCmd(bin, "-X", nil))
			} else {
				s.note("chain_management is off: the chain stays (Ansible reports it changed all the same)")
			}
			s.add(plan.Change{Resource: res, Action: plan.Delete, Field: "chain", Before: m.Chain}, do)
		}
	default:
		r, err := c.Run(ctx, conn.Join(m.iptablesCmd(bin, "-C", rule)...))
		if err != nil {
			return plan.Diff{}, err
		}
		rulePresent := r.OK()
		want := m.State == "present"
		if rulePresent == want {
			break
		}
		text := strings.Join(rule, " ")
		if !want {
			s.add(plan.Change{Resource: res, Action: plan.Delete, Field: "rule", Before: text}, run(m.iptablesCmd(bin, "-D", rule)))
			break
		}
		present, err := chainPresent()
		if err != nil {
			return plan.Diff{}, err
		}
		if !present && m.ChainManagement {
			s.add(plan.Change{Resource: res, Action: plan.Create, Field: "chain", After: m.Chain}, run(m.iptablesCmd(bin, "-N", nil)))
		}
		action := "-A"
		if m.Action == "insert" {
			action = "-I"
		}
		s.add(plan.Change{Resource: res, Action: plan.Create, Field: "rule", After: text}, run(m.iptablesCmd(bin, action, rule)))
	}
	return s.diff(), nil
}

func (m *Iptables) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	return applySteps(ctx, h, "iptables", d)
}

// binPath is AnsibleModule.get_bin_path with required=True: the PATH and
// the sbin directories, which a non-root login's PATH lacks.
func binPath(ctx context.Context, c conn.Conn, name string) (string, error) {
	const extra = "/sbin:/usr/sbin:/usr/local/sbin"
	p, err := output(ctx, c, "PATH=\"$PATH:"+extra+"\" command -v "+conn.Quote(name))
	if err != nil || p == "" {
		return "", fmt.Errorf("Failed to find required executable %q in paths: $PATH:%s", name, extra)
	}
	return p, nil
}

var (
	_ modules.Module      = (*Iptables)(nil)
	_ modules.Provisioner = (*Iptables)(nil)
	_ modules.Resulter    = (*Iptables)(nil)
	_ modules.Unverified  = (*Iptables)(nil)
)
