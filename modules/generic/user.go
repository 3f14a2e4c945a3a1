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

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:    "user",
		Summary: "Create, change or remove a local user account (ansible.builtin.user)",
		CheckMode: "Reads /etc/passwd, /etc/group and (for password and password ageing) /etc/shadow as files and " +
			"reports each field useradd, usermod, chage or userdel would change, and a missing home directory. " +
			"Changes nothing; a group that an earlier task would create is known after apply.",
		Example: `- name: The deploy account, in docker and sudo
  ansible.builtin.user:
    name: deploy
    shell: /bin/bash
    groups: [docker, sudo]
    append: true
    password: "{{ deploy_pw | password_hash('sha512') }}"
    password_expire_max: 90
    password_expire_warn: 14`,
		New: func() modules.Module { return &User{} },
	})
}

// User is ansible.builtin.user on Linux: useradd, usermod and userdel with
// the options Ansible passes, decided from the same comparisons.
type User struct {
	Name           string    `yaml:"name" required:"true" aliases:"user" doc:"the account name"`
	State          string    `yaml:"state" default:"present" choices:"present,absent" doc:"whether the account exists"`
	UID            *int      `yaml:"uid" doc:"the user ID"`
	Group          string    `yaml:"group" doc:"the primary group (name or GID); it must exist"`
	Groups         *[]string `yaml:"groups" doc:"supplementary groups (a list or a comma-separated string); an empty value removes all unless append"`
	Append         bool      `yaml:"append" doc:"add the groups to the user's others instead of replacing them"`
	Comment        string    `yaml:"comment" doc:"the GECOS field"`
	Home           string    `yaml:"home" doc:"the home directory"`
	Shell          string    `yaml:"shell" doc:"the login shell"`
	Password       string    `yaml:"password" secret:"true" doc:"the crypt(3) hash for /etc/shadow (password_hash filter), '!' or '*' to disable password login"`
	UpdatePassword string    `yaml:"update_password" default:"always" choices:"always,on_create" doc:"on_create sets the password only when the account is created"`
	PasswordLock   *bool     `yaml:"password_lock" doc:"lock (usermod -L) or unlock (-U) the password"`
	CreateHome     bool      `yaml:"create_home" default:"true" aliases:"createhome" doc:"create the home directory from /etc/skel when it is missing"`
	MoveHome       bool      `yaml:"move_home" doc:"when home changes, move the old directory's contents there"`
	Skeleton       string    `yaml:"skeleton" doc:"the directory a new home is copied from (default /etc/skel)"`
	System         bool      `yaml:"system" doc:"create a system account (ID below UID_MIN); only on creation"`
	NonUnique      bool      `yaml:"non_unique" doc:"allow a uid another account already has"`
	Remove         bool      `yaml:"remove" doc:"with state=absent, remove the home directory and mail spool too (userdel -r)"`
	Force          bool      `yaml:"force" doc:"with state=absent, remove the account even while logged in (userdel -f); with generate_ssh_key, make a new key even when one exists"`

	// SSH key generation (user_sshkey.go)
	GenerateSSHKey   bool    `yaml:"generate_ssh_key" doc:"make an SSH key pair for the user with ssh-keygen on the host, unless one is there"`
	SSHKeyBits       int     `yaml:"ssh_key_bits" doc:"the key's size in bits (0: ssh-keygen's default for the type)"`
	SSHKeyType       string  `yaml:"ssh_key_type" default:"rsa" doc:"the key type, as ssh-keygen -t takes it"`
	SSHKeyFile       *string `yaml:"ssh_key_file" doc:"the private key's path, under the user's home when relative (default .ssh/id_TYPE)"`
	SSHKeyComment    *string `yaml:"ssh_key_comment" doc:"the key's comment (default: ansible-generated on HOSTNAME)"`
	SSHKeyPassphrase string  `yaml:"ssh_key_passphrase" secret:"true" doc:"the private key's passphrase (default: none)"`

	// Password ageing, the /etc/shadow fields chage(1) sets (-1 clears one).
	ExpireMax     *int `yaml:"password_expire_max" doc:"maximum number of days between password changes (chage -M; -1 clears it)"`
	ExpireMin     *int `yaml:"password_expire_min" doc:"minimum number of days between password changes (chage -m; -1 clears it)"`
	ExpireWarn    *int `yaml:"password_expire_warn" doc:"days of warning before the password expires (chage -W; -1 clears it; ansible-core 2.16)"`
	ExpireDisable *int `yaml:"password_expire_account_disable" doc:"days after the password expires until the account is disabled (useradd/usermod -f; -1 clears it; ansible-core 2.18)"`

	groups  []string
	result  map[string]any
	keyMade bool // this value's Apply made the key (force: the re-check wants no other)
}

// crypt hashes: $id$...; '!'/'*' prefixes lock; 13-character DES.
var (
	cryptHash = regexp.MustCompile(`^[!*]*(\$[A-Za-z0-9]+\$[^:\s]+|[./0-9A-Za-z]{13})$`)
	noLogin   = regexp.MustCompile(`^[!*]+$`)
)

func (m *User) Provision() {
	if m.Groups != nil {
		m.groups = []string{}
		for _, g := range *m.Groups {
			for _, x := range strings.Split(g, ",") {
				if x = strings.TrimSpace(x); x != "" && !slices.Contains(m.groups, x) {
					m.groups = append(m.groups, x)
				}
			}
		}
	}
}

func (m *User) Validate() error {
	if err := validAccountName("user", m.Name); err != nil {
		return err
	}
	for _, g := range append([]string{m.Group}, m.groups...) {
		if g != "" && strings.ContainsAny(g, ": \t\n") {
			return fmt.Errorf("group %q is not a group name", g)
		}
	}
	switch {
	case m.UID != nil && *m.UID < 0:
		return fmt.Errorf("uid %d: expected a number from 0", *m.UID)
	case m.Home != "" && !path.IsAbs(m.Home):
		return fmt.Errorf("home %q must be an absolute path", m.Home)
	case strings.ContainsAny(m.Comment+m.Shell+m.Home, ":\n"):
		return errors.New("comment, shell and home cannot hold ':' or a newline (they are fields of /etc/passwd)")
	case m.Password != "" && !cryptHash.MatchString(m.Password) && !noLogin.MatchString(m.Password):
		return errors.New("password is not a crypt hash: give a hash (\"{{ pw | password_hash('sha512') }}\"), '!' or '*'; Ansible would store the plain text as the hash, which no password matches")
	case m.PasswordLock != nil && !*m.PasswordLock && strings.HasPrefix(m.Password, "!"):
		return errors.New("password_lock: false contradicts a password that starts with '!' (a locked one)")
	case m.State == "absent" && (m.UID != nil || m.Group != "" || m.Groups != nil || m.Password != ""):
		return errors.New("state=absent takes no uid, group, groups or password")
	case m.State == "absent" && (m.ExpireMax != nil || m.ExpireMin != nil || m.ExpireWarn != nil || m.ExpireDisable != nil):
		return errors.New("state=absent takes no password_expire_* argument")
	}
	for _, a := range m.ageing() {
		if *a.want < -1 {
			return fmt.Errorf("%s %d: expected a number of days, or -1 to clear it", a.arg, *a.want)
		}
	}
	return m.validateSSHKey()
}

// ageingArg is one password ageing argument and the /etc/shadow field
// (0-based) it sets.
type ageingArg struct {
	arg   string
	field int
	opt   string // chage's option; "" for usermod -f
	want  *int
}

// ageing lists the password ageing arguments given, in the order Ansible
// passes them to chage.
func (m *User) ageing() []ageingArg {
	var out []ageingArg
	for _, a := range []ageingArg{
		{"password_expire_min", 3, "-m", m.ExpireMin},
		{"password_expire_max", 4, "-M", m.ExpireMax},
		{"password_expire_warn", 5, "-W", m.ExpireWarn},
		{"password_expire_account_disable", 6, "", m.ExpireDisable},
	} {
		if a.want != nil {
			out = append(out, a)
		}
	}
	return out
}

// checkAgeing compares the ageing arguments with the account's
// /etc/shadow fields (an empty field is -1, as getspnam reads it) and
// queues chage for those that differ, and usermod -f for the inactive
// days. Ansible runs usermod -f on every run; gpuctl only when it differs.
// An account missing from /etc/shadow is left alone, as in Ansible.
func (m *User) checkAgeing(ctx context.Context, h modules.Host, op *accountOp, d *plan.Diff) error {
	args := m.ageing()
	if len(args) == 0 {
		return nil
	}
	fields, ok, err := shadowFields(ctx, h, m.Name)
	if err != nil || !ok {
		return err
	}
	var chage, usermod []string
	for _, a := range args {
		cur := -1
		if a.field < len(fields) && fields[a.field] != "" {
			if cur, err = strconv.Atoi(fields[a.field]); err != nil {
				return fmt.Errorf("user %s: /etc/shadow field %d is %q, not a number", m.Name, a.field+1, fields[a.field])
			}
		}
		if cur == *a.want {
			continue
		}
		if a.opt == "" {
			usermod = append(usermod, "-f", strconv.Itoa(*a.want))
		} else {
			chage = append(chage, a.opt, strconv.Itoa(*a.want))
		}
		d.Add(plan.Change{Resource: "user:" + m.Name, Action: plan.Update, Field: a.arg, Before: strconv.Itoa(cur), After: strconv.Itoa(*a.want)})
	}
	if len(usermod) > 0 {
		op.cmds = append(op.cmds, conn.Join(append(append([]string{"usermod"}, usermod...), m.Name)...))
	}
	if len(chage) > 0 {
		op.cmds = append(op.cmds, conn.Join(append(append([]string{"chage"}, chage...), m.Name)...))
	}
	return nil
}

func (m *User) Reads() []string { return []string{"/etc/passwd", "/etc/group", "/etc/shadow"} }

func (m *User) Result() map[string]any { return m.result }

// accountOp is what Apply runs: commands in order, each with what to hide.
type accountOp struct {
	cmds   []string
	redact []string
	sshKey bool // then generate the ssh key (user_sshkey.go)
}

func (op *accountOp) run(ctx context.Context, h modules.Host) error {
	for _, c := range op.cmds {
		if err := run(ctx, h, c, conn.Redact(op.redact...)); err != nil {
			return err
		}
	}
	return nil
}

func (m *User) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	db, err := readAccounts(ctx, h)
	if err != nil {
		return plan.Diff{}, err
	}
	op := &accountOp{redact: []string{m.Password}}
	d := plan.Diff{State: op}
	res := "user:" + m.Name
	u, exists := db.user(m.Name)
	m.result = map[string]any{"name": m.Name, "state": m.State}
	switch {
	case m.State == "absent" && exists:
		cmd := []string{"userdel"}
		if m.Force {
			cmd = append(cmd, "-f")
		}
		if m.Remove {
			cmd = append(cmd, "-r")
		}
		op.cmds = append(op.cmds, conn.Join(append(cmd, m.Name)...))
		d.Add(plan.Change{Resource: res, Action: plan.Delete, Before: fmt.Sprintf("uid %d, home %s", u.UID, u.Home)})
		m.result["force"], m.result["remove"] = m.Force, m.Remove
	case m.State == "absent":
	case !exists:
		if err := m.create(ctx, h, db, op, &d); err != nil {
			return d, err
		}
	default:
		if err := m.modify(ctx, h, db, u, op, &d); err != nil {
			return d, err
		}
		if err := m.checkHome(ctx, h, u, op, &d); err != nil {
			return d, err
		}
	}
	if exists && m.State == "present" {
		m.fillResult(u)
	}
	if err := m.checkSSHKey(ctx, h, u, exists, op, &d); err != nil {
		return d, err
	}
	return d, nil
}

// needGroups fails (known after apply under --check) when a named group
// is missing: an earlier task may be creating it.
func (m *User) needGroups(db *accountDB) error {
	for _, g := range append([]string{m.Group}, m.groups...) {
		if _, ok := db.group(g); g != "" && !ok {
			return modules.NotYet("user %s: group %s does not exist", m.Name, g)
		}
	}
	return nil
}

// create is Ansible's create_user_useradd.
func (m *User) create(ctx context.Context, h modules.Host, db *accountDB, op *accountOp, d *plan.Diff) error {
	if err := m.needGroups(db); err != nil {
		return err
	}
	cmd := []string{"useradd"}
	var desc []string
	if m.UID != nil {
		cmd = append(cmd, "-u", strconv.Itoa(*m.UID))
		desc = append(desc, "uid "+strconv.Itoa(*m.UID))
		if m.NonUnique {
			cmd = append(cmd, "-o")
		}
	}
	if _, ok := db.group(m.Name); m.Group != "" {
		cmd = append(cmd, "-g", m.Group)
		desc = append(desc, "group "+m.Group)
	} else if ok {
		// A group of the user's name exists: useradd would fail trying to
		// create it, so Ansible asks for none (-N, the default group).
		cmd = append(cmd, "-N")
	}
	if len(m.groups) > 0 {
		cmd = append(cmd, "-G", strings.Join(m.groups, ","))
		desc = append(desc, "groups "+strings.Join(m.groups, ","))
	}
	for _, o := range [][3]string{{"-c", m.Comment, "comment "}, {"-d", m.Home, "home "}, {"-s", m.Shell, "shell "}} {
		if o[1] != "" {
			cmd = append(cmd, o[0], o[1])
			desc = append(desc, o[2]+o[1])
		}
	}
	if m.Password != "" {
		pw := m.Password
		if m.PasswordLock != nil && *m.PasswordLock {
			pw = "!" + pw
		}
		cmd = append(cmd, "-p", pw)
		d.Add(plan.Change{Resource: "user:" + m.Name, Action: plan.Create, Field: "password", After: pw, Sensitive: true})
	}
	if m.CreateHome {
		cmd = append(cmd, "-m")
		if m.Skeleton != "" {
			cmd = append(cmd, "-k", m.Skeleton)
		}
		if m.Home != "" {
			// useradd cannot create missing parents; Ansible makes them first.
			ok, err := exists(ctx, h, path.Dir(m.Home))
			if err != nil {
				return err
			}
			if !ok {
				op.cmds = append(op.cmds, conn.Join("mkdir", "-p", path.Dir(m.Home)))
			}
		}
	} else {
		cmd = append(cmd, "-M")
	}
	if m.System {
		cmd = append(cmd, "-r")
		desc = append(desc, "system")
	}
	if m.ExpireDisable != nil {
		cmd = append(cmd, "-f", strconv.Itoa(*m.ExpireDisable))
		desc = append(desc, "password_expire_account_disable "+strconv.Itoa(*m.ExpireDisable))
	}
	op.cmds = append(op.cmds, conn.Join(append(cmd, m.Name)...))
	// Then chage, as Ansible runs it after useradd, for the values given.
	var chage []string
	for _, a := range m.ageing() {
		if a.opt != "" {
			chage = append(chage, a.opt, strconv.Itoa(*a.want))
			desc = append(desc, a.arg+" "+strconv.Itoa(*a.want))
		}
	}
	if len(chage) > 0 {
		op.cmds = append(op.cmds, conn.Join(append(append([]string{"chage"}, chage...), m.Name)...))
	}
	d.Changes = append([]plan.Change{{Resource: "user:" + m.Name, Action: plan.Create, After: strings.Join(desc, ", ")}}, d.Changes...)
	m.result["system"], m.result["create_home"] = m.System, m.CreateHome
	return nil
}

// modify is Ansible's modify_user_usermod: one usermod with every option
// whose value differs.
func (m *User) modify(ctx context.Context, h modules.Host, db *accountDB, u passwdEntry, op *accountOp, d *plan.Diff) error {
	if err := m.needGroups(db); err != nil {
		return err
	}
	res := "user:" + m.Name
	var args []string
	change := func(field, before, after string, opt ...string) {
		args = append(args, opt...)
		d.Add(plan.Change{Resource: res, Action: plan.Update, Field: field, Before: before, After: after})
	}
	if m.UID != nil && u.UID != *m.UID {
		opt := []string{"-u", strconv.Itoa(*m.UID)}
		if m.NonUnique {
			opt = append(opt, "-o")
		}
		change("uid", strconv.Itoa(u.UID), strconv.Itoa(*m.UID), opt...)
	}
	if g, _ := db.group(m.Group); m.Group != "" && g.GID != u.GID {
		before := strconv.Itoa(u.GID)
		if cur, ok := db.group(before); ok {
			before = cur.Name
		}
		change("group", before, g.Name, "-g", strconv.Itoa(g.GID))
	}
	if m.Groups != nil {
		m.modifyGroups(db.memberOf(m.Name), change)
	}
	if m.Comment != "" && u.Comment != m.Comment {
		change("comment", u.Comment, m.Comment, "-c", m.Comment)
	}
	if m.Home != "" && u.Home != m.Home {
		opt := []string{"-d", m.Home}
		if m.MoveHome {
			opt = append(opt, "-m")
		}
		change("home", u.Home, m.Home, opt...)
	}
	if m.Shell != "" && u.Shell != m.Shell {
		change("shell", u.Shell, m.Shell, "-s", m.Shell)
	}
	if err := m.modifyPassword(ctx, h, res, &args, d); err != nil {
		return err
	}
	if len(args) > 0 {
		op.cmds = append(op.cmds, conn.Join(append(append([]string{"usermod"}, args...), m.Name)...))
	}
	m.result["append"], m.result["move_home"] = m.Append, m.MoveHome
	return m.checkAgeing(ctx, h, op, d)
}

// modifyGroups compares supplementary groups as Ansible does: every group
// that lists the user, against the given set.
func (m *User) modifyGroups(current []string, change func(field, before, after string, opt ...string)) {
	missing := false
	for _, g := range m.groups {
		missing = missing || !slices.Contains(current, g)
	}
	extra := false
	for _, g := range current {
		extra = extra || !slices.Contains(m.groups, g)
	}
	before := strings.Join(current, ",")
	switch {
	case m.Append && missing:
		after := append(append([]string{}, current...), m.groups...)
		slices.Sort(after)
		change("groups", before, strings.Join(slices.Compact(after), ","), "-a", "-G", strings.Join(m.groups, ","))
	case !m.Append && (missing || extra):
		change("groups", before, strings.Join(m.groups, ","), "-G", strings.Join(m.groups, ","))
	}
}

// modifyPassword adds -L/-U and -p as Ansible's usermod does; -p replaces
// the lock options, with '!' in front of the hash when locking.
func (m *User) modifyPassword(ctx context.Context, h modules.Host, res string, args *[]string, d *plan.Diff) error {
	if m.PasswordLock == nil && (m.Password == "" || m.UpdatePassword != "always") {
		return nil
	}
	cur, err := shadowHash(ctx, h, m.Name)
	if err != nil {
		return err
	}
	locked := strings.HasPrefix(cur, "!")
	lock := m.PasswordLock != nil && *m.PasswordLock
	if m.Password != "" && m.UpdatePassword == "always" && strings.TrimLeft(cur, "!") != strings.TrimLeft(m.Password, "!") {
		pw := m.Password
		if lock {
			pw = "!" + pw
		}
		*args = append(*args, "-p", pw)
		d.Add(plan.Change{Resource: res, Action: plan.Update, Field: "password", Before: cur, After: pw, Sensitive: true})
		return nil
	}
	switch {
	case m.PasswordLock != nil && lock && !locked:
		*args = append(*args, "-L")
		d.Add(plan.Change{Resource: res, Action: plan.Update, Field: "password_lock", Before: "unlocked", After: "locked"})
	case m.PasswordLock != nil && !lock && locked:
		*args = append(*args, "-U")
		d.Add(plan.Change{Resource: res, Action: plan.Update, Field: "password_lock", Before: "locked", After: "unlocked"})
	}
	return nil
}

// checkHome is Ansible's "handle missing homedirs": an existing account
// whose home directory is missing gets one from the skeleton, with the
// mode login.defs' UMASK gives, owned by the user.
func (m *User) checkHome(ctx context.Context, h modules.Host, u passwdEntry, op *accountOp, d *plan.Diff) error {
	home := m.Home
	if home == "" {
		home = u.Home
	}
	if !m.CreateHome || home == "" {
		return nil
	}
	ok, err := exists(ctx, h, home)
	if err != nil || ok {
		return err
	}
	mode := "0755"
	if defs, err := h.Conn().ReadFile(ctx, "/etc/login.defs"); err == nil {
		if mm := loginUmask.FindStringSubmatch(string(defs)); mm != nil {
			if n, err := strconv.ParseUint(mm[1], 8, 32); err == nil {
				mode = fmt.Sprintf("%04o", 0o777&^n)
			}
		}
	}
	skel := m.Skeleton
	if skel == "" {
		skel = "/etc/skel"
	}
	q := conn.Quote
	op.cmds = append(op.cmds, fmt.Sprintf(`if [ -d %[1]s ]; then mkdir -p "$(dirname %[2]s)" && cp -a %[1]s %[2]s; else mkdir -p %[2]s; fi && chmod %[3]s %[2]s && chown -R %[4]s %[2]s`,
		q(skel), q(home), mode, q(m.Name+":")))
	d.Add(plan.Change{Resource: "file:" + home, Action: plan.Create, Field: "state", After: "directory"})
	return nil
}

var loginUmask = regexp.MustCompile(`(?m)^UMASK\s+(\d+)$`)

// fillResult sets what Ansible registers about an existing account.
func (m *User) fillResult(u passwdEntry) {
	m.result["uid"], m.result["group"] = u.UID, u.GID
	m.result["comment"], m.result["home"], m.result["shell"] = u.Comment, u.Home, u.Shell
	if m.Groups != nil {
		m.result["groups"] = strings.Join(m.groups, ",")
	}
	if m.Password != "" {
		m.result["password"] = "NOT_LOGGING_PASSWORD"
	}
}

func (m *User) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	if d.Empty() {
		return nil // Check found nothing to do
	}
	op, err := modules.StateOf[*accountOp](h, "user", d)
	if err != nil {
		return err
	}
	if err := op.run(ctx, h); err != nil {
		return fmt.Errorf("user %s: %w", m.Name, err)
	}
	if m.State == "present" {
		db, err := readAccounts(ctx, h)
		if err != nil {
			return err
		}
		if u, ok := db.user(m.Name); ok {
			m.fillResult(u)
		}
	}
	if op.sshKey {
		return m.makeSSHKey(ctx, h)
	}
	return nil
}

var (
	_ modules.Module      = (*User)(nil)
	_ modules.Provisioner = (*User)(nil)
	_ modules.Resulter    = (*User)(nil)
	_ modules.Reader      = (*User)(nil)
)
