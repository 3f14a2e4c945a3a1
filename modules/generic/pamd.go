package generic

import (
	"context"
	"errors"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:    "pamd",
		Summary: "Edit a rule of a PAM service file in /etc/pam.d: its type, control, module path or arguments, or add or remove one (community.general.pamd)",
		CheckMode: "Reads the service file, edits it in memory exactly as apply would and reports the unified diff. " +
			"Writes nothing.",
		Example: `- name: No dynamic MOTD at SSH login
  community.general.pamd:
    name: sshd
    type: session
    control: optional
    module_path: pam_motd.so
    state: absent`,
		New: func() modules.Module { return &Pamd{} },
	})
}

// Pamd is community.general.pamd. The service file is parsed and written
// back as the Ansible module does it, so a role leaves the same file under
// either tool: every rule is rewritten in the module's layout (the type
// padded to 11 columns, single spaces after it), a "# Updated by Ansible -
// TIME" line goes second, and rules are matched on type, control and
// module path exactly as written. Its quirks are kept too: before and after
// drop the comments and blank lines between the rule they insert next to
// and the neighbour they skip over.
type Pamd struct {
	Name            string   `yaml:"name" required:"true" doc:"the PAM service file, such as sshd or common-auth"`
	Type            string   `yaml:"type" required:"true" choices:"account,-account,auth,-auth,password,-password,session,-session" doc:"type of the rule to match"`
	Control         string   `yaml:"control" required:"true" doc:"control of the rule to match; quote a [bracketed] one"`
	ModulePath      string   `yaml:"module_path" required:"true" doc:"module path of the rule to match"`
	NewType         string   `yaml:"new_type" choices:"account,-account,auth,-auth,password,-password,session,-session" doc:"type of the new or updated rule"`
	NewControl      string   `yaml:"new_control" doc:"control of the new or updated rule"`
	NewModulePath   string   `yaml:"new_module_path" doc:"module path of the new or updated rule"`
	ModuleArguments []string `yaml:"module_arguments" doc:"updated: the rule's arguments (an empty list clears them); args_present: added, or their value=... changed; args_absent: removed; before/after: the new rule's"`
	State           string   `yaml:"state" default:"updated" choices:"updated,before,after,args_present,args_absent,absent" doc:"updated changes the matching rules; before/after insert a new rule next to each; absent removes them"`
	Path            string   `yaml:"path" default:"/etc/pam.d" doc:"directory of the PAM service files"`
	Backup          bool     `yaml:"backup" doc:"keep a timestamped copy before changing the file"`

	argsGiven  bool // module_arguments was given (updated replaces then)
	changes    int
	backupFile string
	now        func() time.Time
}

var pamTypes = []string{"account", "-account", "auth", "-auth", "password", "-password", "session", "-session"}

func (m *Pamd) Provision() {
	m.argsGiven = m.ModuleArguments != nil
	if m.now == nil {
		m.now = time.Now
	}
}

func (m *Pamd) Validate() error {
	switch m.State {
	case "args_present", "args_absent":
		if !m.argsGiven {
			return fmt.Errorf("state is %s but all of the following are missing: module_arguments", m.State)
		}
	case "before", "after":
		var missing []string
		for _, f := range []struct{ n, v string }{{"new_control", m.NewControl}, {"new_type", m.NewType}, {"new_module_path", m.NewModulePath}} {
			if f.v == "" {
				missing = append(missing, f.n)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("state is %s but all of the following are missing: %s", m.State, strings.Join(missing, ", "))
		}
	}
	if m.State == "args_present" && slices.ContainsFunc(parsePamArgs(m.ModuleArguments), func(a string) bool { return strings.HasPrefix(a, "[") }) {
		return errors.New("Unable to process bracketed '[' complex arguments with 'args_present'. Please use 'updated'.")
	}
	if m.Name == "" || strings.ContainsAny(m.Name, "/\n") {
		return fmt.Errorf("name %q: a service file name in path, such as sshd", m.Name)
	}
	return absPath("path", m.Path)
}

func (m *Pamd) file() string { return path.Join(m.Path, m.Name) }

func (m *Pamd) Reads() []string { return []string{m.file()} }

func (m *Pamd) Result() map[string]any {
	return map[string]any{"change_count": m.changes, "backupdest": m.backupFile}
}

func (m *Pamd) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	var d plan.Diff
	real, cur, fi, exists, err := readReal(ctx, h, m.file())
	if err != nil {
		return d, err
	}
	if !exists {
		return d, fmt.Errorf("Unable to open/read PAM module file %s with error [Errno 2] No such file or directory: '%s'.", m.file(), m.file())
	}
	svc, err := parsePamService(string(cur))
	if err != nil {
		return d, err
	}
	m.changes = m.edit(svc)
	if err := svc.validate(); err != nil {
		return d, err
	}
	if m.changes == 0 {
		return d, nil
	}
	cp, err := planContent(ctx, h, "file:"+m.file(), real, cur, fi, exists, []byte(svc.render(m.now())), Attrs{}, &d)
	if err != nil {
		return d, err
	}
	d.State = cp
	return d, nil
}

func (m *Pamd) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	cp, err := modules.StateOf[*contentPlan](h, "pamd", d)
	if err != nil {
		return err
	}
	m.backupFile, err = cp.apply(ctx, h, writeOpts{backup: m.Backup})
	return err
}

// edit makes the change the state asks for and returns the number of
// rules it changed, the module's change_count.
func (m *Pamd) edit(s *pamService) int {
	var newArgs []string
	if m.argsGiven {
		newArgs = parsePamArgs(m.ModuleArguments)
	}
	switch m.State {
	case "updated":
		return s.update(m.Type, m.Control, m.ModulePath, m.NewType, m.NewControl, m.NewModulePath, newArgs, m.argsGiven)
	case "before":
		return s.insertBefore(m.Type, m.Control, m.ModulePath, newPamRule(m.NewType, m.NewControl, m.NewModulePath, newArgs))
	case "after":
		return s.insertAfter(m.Type, m.Control, m.ModulePath, newPamRule(m.NewType, m.NewControl, m.NewModulePath, newArgs))
	case "args_absent":
		return s.removeArgs(m.Type, m.Control, m.ModulePath, newArgs)
	case "args_present":
		return s.addArgs(m.Type, m.Control, m.ModulePath, newArgs)
	case "absent":
		return s.remove(m.Type, m.Control, m.ModulePath)
	}
	return 0
}

// pamLine is one line of a service file in the module's linked list; rule
// is nil for comments, @include lines and blank lines, kept as text.
type pamLine struct {
	text       string
	comment    bool // a comment or a blank line: before/after skip over these
	rule       *pamRule
	prev, next *pamLine
}

type pamRule struct {
	typ     string
	control string // as the module's getter shows it: "[a=b c=d]" rebuilt from its parts
	bracket []string
	path    string
	args    []string
}

func newPamRule(typ, control, path string, args []string) *pamRule {
	r := &pamRule{typ: typ, path: path, args: args}
	r.setControl(control)
	return r
}

// setControl is the module's rule_control setter: a bracketed control is
// split into its value=action parts, " = " tightened to "=".
func (r *pamRule) setControl(c string) {
	if strings.HasPrefix(c, "[") {
		c = strings.NewReplacer("[", "", "]", "").Replace(strings.ReplaceAll(c, " = ", "="))
		r.bracket = strings.Split(c, " ")
		r.control = "[" + strings.Join(r.bracket, " ") + "]"
		return
	}
	r.bracket, r.control = nil, c
}

func (r *pamRule) matches(typ, control, path string) bool {
	return r.typ == typ && r.control == control && r.path == path
}

func (r *pamRule) String() string {
	s := fmt.Sprintf("%-11s%s %s", r.typ, r.control, r.path)
	if len(r.args) > 0 {
		s += " " + strings.Join(r.args, " ")
	}
	return s
}

var (
	pamRuleRE = regexp.MustCompile(`(-?(?:auth|account|session|password))\s+(\[.*\]|\S*)\s+(\S*)\s*(.*)\s*`)
	pamArgRE  = regexp.MustCompile(`(\[.*\]|\S*)`)
)

// parsePamArgs is the module's parse_module_arguments: each argument split
// into words, a [bracketed] run kept whole.
func parsePamArgs(args []string) []string {
	out := []string{}
	if len(args) == 1 && args[0] == "" {
		return out
	}
	for _, a := range args {
		for _, w := range pamArgRE.FindAllString(a, -1) {
			if w != "" {
				out = append(out, w)
			}
		}
	}
	return out
}

type pamService struct{ head, tail *pamLine }

func parsePamService(text string) (*pamService, error) {
	s := &pamService{}
	for _, l := range splitLines(text) { // lines.go
		l = stripEOL(l)
		t := strings.TrimLeft(l, " \t")
		switch {
		case strings.HasPrefix(t, "#") || strings.TrimSpace(l) == "":
			s.append(&pamLine{text: l, comment: true})
		case strings.HasPrefix(t, "@include"):
			s.append(&pamLine{text: l})
		default:
			g := pamRuleRE.FindStringSubmatch(l)
			if g == nil {
				return nil, fmt.Errorf("not a PAM rule: %q", l)
			}
			s.append(&pamLine{rule: newPamRule(g[1], g[2], g[3], parsePamArgs([]string{g[4]}))})
		}
	}
	return s, nil
}

func (s *pamService) append(l *pamLine) {
	if s.head == nil {
		s.head, s.tail = l, l
		return
	}
	l.prev, l.next = s.tail, nil
	s.tail.next = l
	s.tail = l
}

func (s *pamService) get(typ, control, path string) []*pamLine {
	var out []*pamLine
	for l := s.head; l != nil; l = l.next {
		if l.rule != nil && l.rule.matches(typ, control, path) {
			out = append(out, l)
		}
	}
	return out
}

func (s *pamService) remove(typ, control, path string) int {
	n := 0
	for l := s.head; l != nil; l = l.next {
		if l.rule == nil || !l.rule.matches(typ, control, path) {
			continue
		}
		if l.prev != nil {
			l.prev.next = l.next
			if l.next != nil {
				l.next.prev = l.prev
			}
		} else {
			s.head = l.next
			if l.next != nil {
				l.next.prev = nil
			}
		}
		n++
	}
	return n
}

func (s *pamService) update(typ, control, path, newType, newControl, newPath string, newArgs []string, argsGiven bool) int {
	n := 0
	for _, l := range s.get(typ, control, path) {
		r, changed := l.rule, false
		if newType != "" && r.typ != newType {
			r.typ, changed = newType, true
		}
		if newControl != "" && r.control != newControl {
			r.setControl(newControl)
			changed = true
		}
		if newPath != "" && r.path != newPath {
			r.path, changed = newPath, true
		}
		if argsGiven && !slices.Equal(r.args, newArgs) {
			r.args, changed = slices.Clone(newArgs), true
		}
		if changed {
			n++
		}
	}
	return n
}

func (s *pamService) insertBefore(typ, control, path string, proto *pamRule) int {
	n := 0
	for _, cur := range s.get(typ, control, path) {
		nl := &pamLine{rule: clonePamRule(proto)}
		prev := cur.prev
		for prev != nil && prev.comment {
			prev = prev.prev
		}
		switch {
		case prev != nil && (prev.rule == nil || !prev.rule.matches(proto.typ, proto.control, proto.path)):
			prev.next, nl.prev, nl.next, cur.prev = nl, prev, cur, nl
			n++
		case prev == nil:
			if cur.prev == nil {
				s.head = nl
			} else {
				cur.prev.next = nl
			}
			nl.prev, nl.next, cur.prev = cur.prev, cur, nl
			n++
		}
	}
	return n
}

func (s *pamService) insertAfter(typ, control, path string, proto *pamRule) int {
	n := 0
	for _, cur := range s.get(typ, control, path) {
		next := cur.next
		for next != nil && next.comment {
			next = next.next
		}
		nl := &pamLine{rule: clonePamRule(proto)}
		switch {
		case next != nil && (next.rule == nil || !next.rule.matches(proto.typ, proto.control, proto.path)):
			next.prev, nl.next, nl.prev, cur.next = nl, next, cur, nl
			n++
		case next == nil:
			nl.prev, nl.next = s.tail, nil
			s.tail.next = nl
			s.tail = nl
			cur.next = nl
			n++
		}
	}
	return n
}

func clonePamRule(r *pamRule) *pamRule {
	c := *r
	c.bracket, c.args = slices.Clone(r.bracket), slices.Clone(r.args)
	return &c
}

// addArgs is the module's add_module_arguments: words missing are
// appended, key=value ones added or their value replaced in place.
func (s *pamService) addArgs(typ, control, path string, add []string) int {
	n := 0
	for _, l := range s.get(typ, control, path) {
		r, changed := l.rule, false
		simpleNew, kvNew := []string{}, map[string]string{}
		var kvNewOrder []string
		for _, a := range add {
			switch k, v, ok := strings.Cut(a, "="); {
			case strings.HasPrefix(a, "["):
			case ok:
				if _, seen := kvNew[k]; !seen {
					kvNewOrder = append(kvNewOrder, k)
				}
				kvNew[k] = v
			default:
				if !slices.Contains(simpleNew, a) {
					simpleNew = append(simpleNew, a)
				}
			}
		}
		simpleCur, kvCur := map[string]bool{}, map[string]string{}
		for _, a := range r.args {
			switch k, v, ok := strings.Cut(a, "="); {
			case strings.HasPrefix(a, "["):
			case ok:
				kvCur[k] = v
			default:
				simpleCur[a] = true
			}
		}
		var added []string
		for _, a := range simpleNew {
			if !simpleCur[a] {
				added = append(added, a)
			}
		}
		for _, k := range kvNewOrder {
			if _, ok := kvCur[k]; !ok {
				added = append(added, k+"="+kvNew[k])
			}
		}
		if len(added) > 0 {
			r.args = append(r.args, added...)
			changed = true
		}
		for _, k := range kvNewOrder {
			if v, ok := kvCur[k]; ok && v != kvNew[k] {
				if i := slices.Index(r.args, k+"="+v); i >= 0 {
					r.args[i] = k + "=" + kvNew[k]
				}
				changed = true
			}
		}
		if changed {
			n++
		}
	}
	return n
}

func (s *pamService) removeArgs(typ, control, path string, drop []string) int {
	n := 0
	for _, l := range s.get(typ, control, path) {
		r := l.rule
		if !slices.ContainsFunc(r.args, func(a string) bool { return slices.Contains(drop, a) }) {
			continue
		}
		r.args = slices.DeleteFunc(slices.Clone(r.args), func(a string) bool { return slices.Contains(drop, a) })
		n++
	}
	return n
}

var (
	pamSimpleControls = []string{"required", "requisite", "sufficient", "optional", "include", "substack", "definitive"}
	pamControlValues  = []string{"success", "open_err", "symbol_err", "service_err", "system_err", "buf_err",
		"perm_denied", "auth_err", "cred_insufficient", "authinfo_unavail", "user_unknown",
		"maxtries", "new_authtok_reqd", "acct_expired", "session_err", "cred_unavail",
		"cred_expired", "cred_err", "no_module_data", "conv_err", "authtok_err",
		"authtok_recover_err", "authtok_lock_busy", "authtok_disable_aging", "try_again",
		"ignore", "abort", "authtok_expired", "module_unknown", "bad_item", "conv_again",
		"incomplete", "default"}
	pamControlActions = []string{"ignore", "bad", "die", "ok", "done", "reset"}
)

// validate is the module's: the first rule with an unknown type, control or
// control value fails the task, naming the rule.
func (s *pamService) validate() error {
	for l := s.head; l != nil; l = l.next {
		r := l.rule
		if r == nil {
			continue
		}
		if !slices.Contains(pamTypes, r.typ) {
			return fmt.Errorf("Rule type, %s, is not valid in rule %s", r.typ, r)
		}
		if r.bracket == nil {
			if !slices.Contains(pamSimpleControls, r.control) {
				return fmt.Errorf("Rule control, %s, is not valid in rule %s", r.control, r)
			}
			continue
		}
		for _, c := range r.bracket {
			v, a, ok := strings.Cut(c, "=")
			if !ok || strings.Contains(a, "=") {
				return fmt.Errorf("Rule control %q is not value=action in rule %s", c, r)
			}
			if !slices.Contains(pamControlValues, v) {
				return fmt.Errorf("Rule control value, %s, is not valid in rule %s", v, r)
			}
			if n, err := strconv.Atoi(a); !slices.Contains(pamControlActions, a) && (err != nil || n < 0) {
				return fmt.Errorf("Rule control action, %s, is not valid in rule %s", a, r)
			}
		}
	}
	return nil
}

// render is the module's __str__: every line, the "Updated by Ansible"
// mark second (replacing an earlier one there).
func (s *pamService) render(now time.Time) string {
	var lines []string
	for l := s.head; l != nil; l = l.next {
		if l.rule != nil {
			lines = append(lines, l.rule.String())
		} else {
			lines = append(lines, l.text)
		}
	}
	// datetime.isoformat(): microseconds, omitted when zero
	stamp := now.Format("2006-01-02T15:04:05")
	if us := now.Nanosecond() / 1000; us != 0 {
		stamp += fmt.Sprintf(".%06d", us)
	}
	mark := "# Updated by Ansible - " + stamp
	switch {
	case len(lines) <= 1:
		lines = append([]string{"", mark}, lines...)
	case strings.HasPrefix(lines[1], "# Updated by Ansible"):
		lines[1] = mark
	default:
		lines = slices.Insert(lines, 1, mark)
	}
	return strings.Join(lines, "\n") + "\n"
}

var (
	_ modules.Module      = (*Pamd)(nil)
	_ modules.Provisioner = (*Pamd)(nil)
	_ modules.Reader      = (*Pamd)(nil)
	_ modules.Resulter    = (*Pamd)(nil)
)
