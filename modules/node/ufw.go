package node

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:    "ufw",
		Summary: "Enable, disable, reload or reset ufw, set its default policies and logging, add or delete its rules (community.general.ufw)",
		CheckMode: "Reads `ufw status verbose`, /etc/default/ufw, /etc/ufw/ufw.conf and the user rules, runs the rule " +
			"with ufw --dry-run as the Ansible module does, and reports each ufw command that would change something. " +
			"Changes nothing.",
		Example: `- name: SSH stays open
  community.general.ufw:
    rule: allow
    port: "22"
    proto: tcp
- name: Firewall on, incoming denied
  community.general.ufw:
    state: enabled
    policy: deny`,
		New: func() modules.Module { return &UFW{} },
	})
}

// UFW is community.general.ufw (6.x). It runs the ufw commands the Ansible
// module builds, word for word, in its order (state, default, rule,
// logging). A rule's change is judged as the module judges it in check
// mode: `ufw --dry-run` prints the rules files ufw would write, compared
// with the ### tuple lines of the current ones. state, default and logging
// are judged from what ufw reads (ENABLED in `ufw status`, the
// DEFAULT_*_POLICY of /etc/default/ufw, LOGLEVEL of /etc/ufw/ufw.conf), so
// a change is found also while ufw is inactive, where `ufw status verbose`
// shows neither (the Ansible module then reports logging changed on every
// run, and a new default policy not at all).
type UFW struct {
	State            string `yaml:"state" choices:"enabled,disabled,reloaded,reset" doc:"enabled/disabled: ufw on or off (and at boot); reloaded and reset: always a change"`
	Default          string `yaml:"default" aliases:"policy" choices:"allow,deny,reject" doc:"the default policy of direction (incoming when unset)"`
	Logging          string `yaml:"logging" choices:"full,high,low,medium,off,on" doc:"ufw's log level; on keeps the current level, or low"`
	Direction        string `yaml:"direction" choices:"in,incoming,out,outgoing,routed" doc:"default: incoming, outgoing or routed; rule: in or out"`
	Delete           bool   `yaml:"delete" doc:"delete the rule instead of adding it"`
	Route            bool   `yaml:"route" doc:"a routed (forwarding) rule"`
	Insert           *int   `yaml:"insert" doc:"insert the rule at this position (counted from insert_relative_to)"`
	InsertRelativeTo string `yaml:"insert_relative_to" default:"zero" choices:"zero,first-ipv4,last-ipv4,first-ipv6,last-ipv6" doc:"what insert counts from"`
	Rule             string `yaml:"rule" choices:"allow,deny,limit,reject" doc:"add (or with delete, remove) a rule"`
	Interface        string `yaml:"interface" aliases:"if" doc:"the rule's interface (needs direction)"`
	InterfaceIn      string `yaml:"interface_in" aliases:"if_in" doc:"the incoming interface (not with direction)"`
	InterfaceOut     string `yaml:"interface_out" aliases:"if_out" doc:"the outgoing interface (not with direction)"`
	Log              bool   `yaml:"log" doc:"log new connections that match the rule"`
	FromIP           string `yaml:"from_ip" default:"any" aliases:"from,src" doc:"source address or network"`
	FromPort         string `yaml:"from_port" doc:"source port"`
	ToIP             string `yaml:"to_ip" default:"any" aliases:"dest,to" doc:"destination address or network"`
	ToPort           string `yaml:"to_port" aliases:"port" doc:"destination port(s): 22, 80,443, 6000:6007, or a service name"`
	Proto            string `yaml:"proto" aliases:"protocol" choices:"ah,any,esp,ipv6,tcp,udp,gre,igmp" doc:"protocol"`
	Name             string `yaml:"name" aliases:"app" doc:"an application profile (ufw app list)"`
	Comment          string `yaml:"comment" doc:"the rule's comment (ufw 0.35 and later)"`

	commands []string
	msg      string
	applied  bool // the engine checks again after Apply: keep what Apply ran and saw
}

// ufwCommandOrder is the module's command_keys: the order its commands run in.
var ufwCommandOrder = []string{"state", "default", "rule", "logging"}

func (m *UFW) Validate() error {
	if n := countSet(m.Name, m.Proto, m.Logging); n > 1 {
		return errors.New("parameters are mutually exclusive: name|proto|logging")
	}
	if m.Direction != "" && m.InterfaceIn != "" {
		return errors.New("parameters are mutually exclusive: direction|interface_in")
	}
	if m.Direction != "" && m.InterfaceOut != "" {
		return errors.New("parameters are mutually exclusive: direction|interface_out")
	}
	if countSet(m.State, m.Default, m.Rule, m.Logging) == 0 {
		return errors.New("one of the following is required: state, default, rule, logging")
	}
	if m.Interface != "" && m.Direction == "" {
		return errors.New("missing parameter(s) required by 'interface': direction")
	}
	if m.Default != "" {
		switch m.Direction {
		case "", "outgoing", "incoming", "routed":
		default:
			return errors.New(`For default, direction must be one of "outgoing", "incoming" and "routed", or direction must not be specified.`)
		}
	}
	if m.Rule != "" {
		switch m.Direction {
		case "", "in", "out":
		default:
			return errors.New(`For rules, direction must be one of "in" and "out", or direction must not be specified.`)
		}
		if !m.Route && m.InterfaceIn != "" && m.InterfaceOut != "" {
			return errors.New("Only route rules can combine interface_in and interface_out")
		}
	}
	// The module joins its command into a string and splits it as a shell
	// would: a quote in comment or name breaks that split, and a space in
	// another value would make two words.
	for _, f := range []struct{ n, v string }{{"comment", m.Comment}, {"name", m.Name}} {
		if strings.ContainsAny(f.v, `'\`) {
			return fmt.Errorf("%s %q: no single quote or backslash (the Ansible module cannot pass it to ufw)", f.n, f.v)
		}
	}
	for _, f := range []struct{ n, v string }{{"from_ip", m.FromIP}, {"from_port", m.FromPort}, {"to_ip", m.ToIP}, {"to_port", m.ToPort},
		{"interface", m.Interface}, {"interface_in", m.InterfaceIn}, {"interface_out", m.InterfaceOut}} {
		if strings.ContainsAny(f.v, " \t\n'\"\\") {
			return fmt.Errorf("%s %q: no spaces or quotes", f.n, f.v)
		}
	}
	return nil
}

func countSet(vals ...string) int {
	n := 0
	for _, v := range vals {
		if v != "" {
			n++
		}
	}
	return n
}

// Unverified: reloaded and reset are a change on every run, as in Ansible.
func (m *UFW) Unverified() bool { return m.State == "reloaded" || m.State == "reset" }

// Result is what the Ansible module returns besides changed: the ufw
// commands run and, after a run, `ufw status verbose`.
func (m *UFW) Result() map[string]any {
	r := map[string]any{"commands": append([]string{}, m.commands...)}
	if m.msg != "" {
		r["msg"] = m.msg
	}
	return r
}

// ufwCmd is one command as the module's execute builds it: words joined
// by spaces (what `commands` shows), with the argv that shlex makes of it.
type ufwCmd struct {
	argv []string
}

func (u ufwCmd) String() string {
	var b strings.Builder
	for i, a := range u.argv {
		if i > 0 {
			b.WriteByte(' ')
		}
		if a == "^### tuple" || (i > 0 && (u.argv[i-1] == "comment" || u.argv[i-1] == "app")) {
			a = "'" + a + "'" // the module's "comment '%s'", "app '%s'" and "'^### tuple'"
		}
		b.WriteString(a)
	}
	return b.String()
}

func (u ufwCmd) shell() string { return "LANG=C " + conn.Join(u.argv...) }

// run is execute: LANG=C, and a failure is the module's failure (stderr,
// else stdout) unless ignored.
func (m *UFW) run(ctx context.Context, c conn.Conn, u ufwCmd, ignoreError bool) (string, error) {
	m.commands = append(m.commands, u.String())
	r, err := c.Run(ctx, u.shell())
	if err != nil {
		return "", err
	}
	if !r.OK() && !ignoreError {
		msg := r.Stderr
		if msg == "" {
			msg = r.Stdout
		}
		return "", fmt.Errorf("%s: %s", u, strings.TrimSpace(msg))
	}
	return r.Stdout, nil
}

var ufwRulesFiles = []string{"/lib/ufw/user.rules", "/lib/ufw/user6.rules", "/etc/ufw/user.rules", "/etc/ufw/user6.rules",
	"/var/lib/ufw/user.rules", "/var/lib/ufw/user6.rules"}

// rules is get_current_rules: the ### tuple lines of every user rules file.
func (m *UFW) rules(ctx context.Context, c conn.Conn, grep string) (string, error) {
	return m.run(ctx, c, ufwCmd{append([]string{grep, "-h", "^### tuple"}, ufwRulesFiles...)}, true)
}

func (m *UFW) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	c := h.Conn()
	if m.applied {
		commands, msg := m.commands, m.msg
		defer func() { m.commands, m.msg = commands, msg }()
	}
	m.commands = nil
	ufw, err := binPath(ctx, c, "ufw")
	if err != nil {
		return plan.Diff{}, err
	}
	grep, err := binPath(ctx, c, "grep")
	if err != nil {
		return plan.Diff{}, err
	}
	preState, err := m.run(ctx, c, ufwCmd{[]string{ufw, "status", "verbose"}}, false)
	if err != nil {
		return plan.Diff{}, err
	}
	m.msg = strings.TrimRight(preState, " \t\n")
	preRules, err := m.rules(ctx, c, grep)
	if err != nil {
		return plan.Diff{}, err
	}
	s := &steps{}
	add := func(field, before, after string, act plan.Action, u ufwCmd) {
		s.add(plan.Change{Resource: "ufw", Action: act, Field: field, Before: before, After: after},
			func(ctx context.Context, c conn.Conn) error {
				_, err := m.run(ctx, c, u, false)
				return err
			})
	}
	for _, command := range ufwCommandOrder {
		switch command {
		case "state":
			if m.State == "" {
				continue
			}
			verb := map[string]string{"enabled": "enable", "disabled": "disable", "reloaded": "reload", "reset": "reset"}[m.State]
			u := ufwCmd{[]string{ufw, "-f", verb}}
			enabled := strings.Contains(preState, " active") // "active" would also match "inactive"
			before := map[bool]string{true: "enabled", false: "disabled"}[enabled]
			switch {
			case m.State == "reloaded" || m.State == "reset":
				add("state", before, m.State, plan.Update, u)
			case (m.State == "enabled") != enabled:
				add("state", before, m.State, plan.Update, u)
			}
		case "default":
			if m.Default == "" {
				continue
			}
			dir := m.Direction
			if dir == "" {
				dir = "incoming"
			}
			cur, err := ufwDefaultPolicy(ctx, c, dir)
			if err != nil {
				return plan.Diff{}, err
			}
			if cur != m.Default {
				argv := []string{ufw, "default", m.Default}
				if m.Direction != "" {
					argv = append(argv, m.Direction)
				}
				add("default "+dir, cur, m.Default, plan.Update, ufwCmd{argv})
			}
		case "rule":
			if m.Rule == "" {
				continue
			}
			argv, err := m.ruleArgv(ctx, c, ufw)
			if err != nil {
				return plan.Diff{}, err
			}
			dry, err := m.run(ctx, c, ufwCmd{append([]string{ufw, "--dry-run"}, argv[1:]...)}, false)
			if err != nil {
				return plan.Diff{}, err
			}
			if ufwRuleChanges(preRules, dry, m.FromIP, m.ToIP) {
				act := plan.Create
				if m.Delete {
					act = plan.Delete
				}
				u := ufwCmd{argv}
				add("rule", "", strings.Join(argv[1:], " "), act, u)
			}
		case "logging":
			if m.Logging == "" {
				continue
			}
			level, err := ufwLogLevel(ctx, c)
			if err != nil {
				return plan.Diff{}, err
			}
			if ufwLoggingChanges(level, m.Logging) {
				add("logging", level, m.Logging, plan.Update, ufwCmd{[]string{ufw, "logging", m.Logging}})
			}
		}
	}
	return s.diff(), nil
}

func (m *UFW) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	m.applied = true
	if err := applySteps(ctx, h, "ufw", d); err != nil {
		return err
	}
	ufw, err := binPath(ctx, h.Conn(), "ufw")
	if err != nil {
		return err
	}
	post, err := m.run(ctx, h.Conn(), ufwCmd{[]string{ufw, "status", "verbose"}}, false)
	if err != nil {
		return err
	}
	m.msg = strings.TrimRight(post, " \t\n")
	return nil
}

// ruleArgv is the rule command in the module's long format, without
// --dry-run:
//
//	ufw [route] [delete | insert NUM] allow|deny|reject|limit [in|out] [on IF] [in on IF] [out on IF] [log]
//	    [from ADDR [port PORT]] [to ADDR [port PORT]] [proto P] [app NAME] [comment TEXT]
func (m *UFW) ruleArgv(ctx context.Context, c conn.Conn, ufw string) ([]string, error) {
	var insertAt *int
	if m.Insert != nil && !m.Delete {
		at, ok := *m.Insert, true
		if m.InsertRelativeTo != "zero" {
			out, err := c.Run(ctx, conn.Join(ufw, "status", "numbered"))
			if err != nil {
				return nil, err
			}
			at, ok = ufwInsertAt(out.Stdout, *m.Insert, m.InsertRelativeTo)
		}
		if ok {
			insertAt = &at
		}
	}
	withComment := false
	if m.Comment != "" {
		out, err := m.run(ctx, c, ufwCmd{[]string{ufw, "--version"}}, false)
		if err != nil {
			return nil, err
		}
		major, minor, err := ufwVersion(out)
		if err != nil {
			return nil, err
		}
		withComment = (major == 0 && minor >= 35) || major > 0 // comments came with 0.35
	}
	return m.ruleCmd(ufw, insertAt, withComment), nil
}

// ruleCmd builds the rule command once the insert position (nil: none)
// and ufw's comment support are known.
func (m *UFW) ruleCmd(ufw string, insertAt *int, withComment bool) []string {
	argv := []string{ufw}
	if m.Route {
		argv = append(argv, "route")
	}
	if m.Delete {
		argv = append(argv, "delete")
	}
	if insertAt != nil {
		argv = append(argv, "insert", strconv.Itoa(*insertAt))
	}
	argv = append(argv, m.Rule)
	if m.Direction != "" {
		argv = append(argv, m.Direction)
	}
	if m.Interface != "" {
		argv = append(argv, "on", m.Interface)
	}
	if m.InterfaceIn != "" {
		argv = append(argv, "in", "on", m.InterfaceIn)
	}
	if m.InterfaceOut != "" {
		argv = append(argv, "out", "on", m.InterfaceOut)
	}
	if m.Log {
		argv = append(argv, "log")
	}
	for _, kv := range [][2]string{{"from", m.FromIP}, {"port", m.FromPort}, {"to", m.ToIP}, {"port", m.ToPort}, {"proto", m.Proto}, {"app", m.Name}} {
		if kv[1] != "" {
			argv = append(argv, kv[0], kv[1])
		}
	}
	if withComment && m.Comment != "" {
		argv = append(argv, "comment", m.Comment)
	}
	return argv
}

var ufwVersionRe = regexp.MustCompile(`^ufw.+(\d+)\.(\d+)(?:\.(\d+))?.*$`)

// ufwVersion is ufw_version's major and minor, by the module's regexp,
// whose greedy .+ reads "ufw 0.36.2" as 6.2 (as Python's re does): only
// 0.35 itself reads right, and either way comments are on.
func ufwVersion(out string) (int, int, error) {
	for _, l := range strings.Split(out, "\n") {
		if strings.TrimSpace(l) == "" {
			continue
		}
		v := ufwVersionRe.FindStringSubmatch(l)
		if v == nil {
			break
		}
		major, _ := strconv.Atoi(v[1])
		minor, _ := strconv.Atoi(v[2])
		return major, minor, nil
	}
	return 0, 0, errors.New("Failed to get ufw version.")
}

var ufwNumbered = regexp.MustCompile(`^\[ *([0-9]+)\] `)

// ufwInsertAt is the module's insert_relative_to arithmetic over `ufw
// status numbered`; ok is false where ufw would refuse the number (past
// the last rule), and the module then appends the rule.
func ufwInsertAt(numbered string, insert int, relativeTo string) (int, bool) {
	last, lastV4, hasV4, hasV6 := 0, 0, false, false
	for _, l := range strings.Split(numbered, "\n") {
		mm := ufwNumbered.FindStringSubmatch(l)
		if mm == nil {
			continue
		}
		n, _ := strconv.Atoi(mm[1])
		v6 := strings.Contains(l, "(v6)")
		last = max(last, n)
		if v6 {
			hasV6 = true
		} else {
			hasV4 = true
			lastV4 = max(lastV4, n)
		}
	}
	rel := 1
	switch relativeTo {
	case "last-ipv4":
		if hasV4 {
			rel = lastV4
		}
	case "first-ipv6":
		if hasV4 {
			rel = lastV4 + 1
		}
	case "last-ipv6":
		rel = last + 1
		if hasV6 {
			rel = last
		}
	}
	at := insert + rel
	return at, at <= last
}

var (
	ufwIPv4 = regexp.MustCompile(`((25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}[0-9])\.){3,3}(25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}[0-9])`)
	ufwIPv6 = regexp.MustCompile(`(([0-9a-fA-F]{1,4}:){7,7}[0-9a-fA-F]{1,4}|([0-9a-fA-F]{1,4}:){1,7}:` +
		`|([0-9a-fA-F]{1,4}:){1,6}:[0-9a-fA-F]{1,4}|([0-9a-fA-F]{1,4}:){1,5}` +
		`(:[0-9a-fA-F]{1,4}){1,2}|([0-9a-fA-F]{1,4}:){1,4}(:[0-9a-fA-F]{1,4})` +
		`{1,3}|([0-9a-fA-F]{1,4}:){1,3}(:[0-9a-fA-F]{1,4}){1,4}|([0-9a-fA-F]` +
		`{1,4}:){1,2}(:[0-9a-fA-F]{1,4}){1,5}|[0-9a-fA-F]{1,4}:((:[0-9a-fA-F]` +
		`{1,4}){1,6})|:((:[0-9a-fA-F]{1,4}){1,7}|:)|fe80:(:[0-9a-fA-F]{0,4})` +
		`{0,4}%[0-9a-zA-Z]{1,}|::(ffff(:0{1,4}){0,1}:){0,1}((25[0-5]|(2[0-4]` +
		`|1{0,1}[0-9]){0,1}[0-9])\.){3,3}(25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}` +
		`[0-9])|([0-9a-fA-F]{1,4}:){1,4}:((25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}` +
		`[0-9])\.){3,3}(25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}[0-9]))`)
)

// linesKeep splits text into lines that keep their newline (Python's
// splitlines(True) for \n text).
func linesKeep(text string) []string {
	if text == "" {
		return nil
	}
	return splitKeep(text)
}

func keepLines(text string, keep func(string) bool) string {
	var b strings.Builder
	for _, l := range linesKeep(text) {
		if keep(l) {
			b.WriteString(l)
		}
	}
	return b.String()
}

// startsWith is re.match: a match anchored at the start.
func startsWith(re *regexp.Regexp, s string) bool {
	loc := re.FindStringIndex(s)
	return loc != nil && loc[0] == 0
}

// ufwRuleChanges is the module's check-mode test: a dry run that only
// skips (the rule is there, or an insert of it is) changes nothing;
// otherwise the ### tuple lines it would write are compared with the
// current ones, only the IPv4 (or IPv6) ones when the rule names such an
// address, since the dry run then prints one file.
func ufwRuleChanges(preRules, dry, fromIP, toIP string) bool {
	all := linesKeep(dry)
	skipping := 0
	for _, l := range all {
		if strings.Contains(l, "Skipping") {
			skipping++
		}
	}
	if skipping > 0 && skipping == len(all) {
		return false
	}
	dry = keepLines(dry, func(l string) bool { return strings.HasPrefix(l, "### tuple") })
	only := func(re *regexp.Regexp) func(string) bool {
		return func(l string) bool { return re.MatchString(l) }
	}
	switch {
	case startsWith(ufwIPv4, fromIP) || startsWith(ufwIPv4, toIP):
		return keepLines(preRules, only(ufwIPv4)) != keepLines(dry, only(ufwIPv4))
	case startsWith(ufwIPv6, fromIP) || startsWith(ufwIPv6, toIP):
		return keepLines(preRules, only(ufwIPv6)) != keepLines(dry, only(ufwIPv6))
	}
	return preRules != dry
}

// ufwLoggingChanges is the module's logging test, on the level ufw.conf
// holds (off, or the level that `ufw status verbose` shows as "on (LEVEL)").
func ufwLoggingChanges(level, want string) bool {
	switch {
	case want == "off":
		return level != "off"
	case level == "off":
		return true
	}
	return want != "on" && want != level
}

// ufwLogLevel is LOGLEVEL of /etc/ufw/ufw.conf; unset is off to ufw's
// `logging on`, which then sets low.
func ufwLogLevel(ctx context.Context, c conn.Conn) (string, error) {
	v, err := ufwConfValue(ctx, c, "/etc/ufw/ufw.conf", "LOGLEVEL")
	if v == "" {
		v = "off"
	}
	return v, err
}

// ufwDefaultPolicy is direction's policy in /etc/default/ufw, as `ufw
// status verbose` names it (ACCEPT is allow, REJECT reject, else deny).
func ufwDefaultPolicy(ctx context.Context, c conn.Conn, direction string) (string, error) {
	key := map[string]string{"incoming": "DEFAULT_INPUT_POLICY", "outgoing": "DEFAULT_OUTPUT_POLICY", "routed": "DEFAULT_FORWARD_POLICY"}[direction]
	v, err := ufwConfValue(ctx, c, "/etc/default/ufw", key)
	switch strings.ToLower(v) {
	case "accept":
		return "allow", err
	case "reject":
		return "reject", err
	}
	return "deny", err
}

// ufwConfValue reads KEY=value (quotes stripped) from one of ufw's shell
// style configuration files, as ufw's own parser does.
func ufwConfValue(ctx context.Context, c conn.Conn, file, key string) (string, error) {
	data, ok, err := readFile(ctx, c, file)
	if err != nil || !ok {
		return "", err
	}
	v := ""
	for _, l := range strings.Split(string(data), "\n") {
		k, val, found := strings.Cut(strings.TrimSpace(l), "=")
		if found && !strings.HasPrefix(k, "#") && strings.TrimSpace(k) == key {
			v = strings.ToLower(strings.Trim(strings.TrimSpace(val), `"'`))
		}
	}
	return v, nil
}

var (
	_ modules.Module     = (*UFW)(nil)
	_ modules.Resulter   = (*UFW)(nil)
	_ modules.Unverified = (*UFW)(nil)
)
