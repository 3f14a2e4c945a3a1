package generic

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/internal/fileplan"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:    "htpasswd",
		Summary: "Add, update or remove a user in an Apache/nginx basic-auth password file (community.general.htpasswd)",
		CheckMode: "Reads the file and verifies the user's stored hash against the password, as Ansible does: " +
			"a matching hash of any scheme is left alone. Reports the user's line added, replaced or removed " +
			"(hashes masked) and the file's mode and owner.",
		Example: `- name: The monitoring frontend asks for a password
  community.general.htpasswd:
    path: /etc/nginx/htpasswd
    name: zabbix
    password: "{{ zabbix_web_password }}"
    owner: root
    group: www-data
    mode: "0640"`,
		New: func() modules.Module { return &Htpasswd{} },
	})
}

// Htpasswd is community.general.htpasswd without passlib: the file is
// parsed and written back as passlib's HtpasswdFile does (comments and
// other users' lines kept, a new user appended), so either tool leaves the
// same lines.
type Htpasswd struct {
	Path        string `yaml:"path" required:"true" aliases:"dest,destfile" doc:"absolute path of the password file"`
	Name        string `yaml:"name" required:"true" aliases:"username" doc:"the user to add or remove"`
	Password    string `yaml:"password" secret:"true" doc:"the user's password (required with state=present); masked in every output"`
	CryptScheme string `yaml:"crypt_scheme" default:"apr_md5_crypt" choices:"apr_md5_crypt,bcrypt,sha256_crypt,sha512_crypt,md5_crypt,ldap_sha1,plaintext" doc:"how a new or changed password is hashed; an existing hash of another scheme that matches the password is kept, as in Ansible"`
	State       string `yaml:"state" default:"present" choices:"present,absent" doc:"whether the user is in the file"`
	Create      bool   `yaml:"create" default:"true" doc:"create the file (and its directory) when missing; false fails on a missing file"`
	Attrs       `yaml:",squash"`

	msg string
}

func (m *Htpasswd) Validate() error {
	if err := absPath("path", m.Path); err != nil {
		return err
	}
	if m.Name == "" || strings.ContainsAny(m.Name, ":\n\r") {
		return fmt.Errorf("name %q must be a user name without ':' or line breaks", m.Name)
	}
	if m.State == "present" && m.Password == "" {
		return errors.New(`state=present needs "password"`)
	}
	if strings.ContainsAny(m.Password, "\n\r") {
		return errors.New("password must not contain line breaks")
	}
	return m.Attrs.validate()
}

func (m *Htpasswd) Reads() []string { return []string{m.Path} }

func (m *Htpasswd) Result() map[string]any { return map[string]any{"msg": m.msg} }

// htpasswdLine is one line of the file; user is "" for the comments and
// blank lines passlib keeps as they are.
type htpasswdLine struct {
	user, hash, raw string
}

// parseHtpasswd reads the file as passlib does: "user:hash" lines, lines
// that are blank or start with '#' kept verbatim, a later line of the same
// user kept verbatim and ignored.
func parseHtpasswd(data string) ([]htpasswdLine, error) {
	var out []htpasswdLine
	seen := map[string]bool{}
	for i, raw := range strings.SplitAfter(data, "\n") {
		if raw == "" {
			continue
		}
		t := strings.TrimLeft(raw, " \t\r\n\f\v")
		if t == "" || strings.HasPrefix(t, "#") {
			out = append(out, htpasswdLine{raw: raw})
			continue
		}
		f := strings.Split(strings.TrimRight(raw, " \t\r\n\f\v"), ":")
		if len(f) != 2 {
			return nil, fmt.Errorf("malformed htpasswd file (error reading line %d)", i+1)
		}
		if seen[f[0]] {
			out = append(out, htpasswdLine{raw: raw})
			continue
		}
		seen[f[0]] = true
		out = append(out, htpasswdLine{user: f[0], hash: f[1], raw: raw})
	}
	return out, nil
}

// render writes the lines back: entries as "user:hash", the rest as they
// were. Blank lines go, as Ansible strips them before passlib reads.
func renderHtpasswd(lines []htpasswdLine, mask bool) []byte {
	var b strings.Builder
	for _, l := range lines {
		switch {
		case l.user != "" && mask:
			b.WriteString(l.user + ":" + maskHash(l.hash) + "\n")
		case l.user != "":
			b.WriteString(l.user + ":" + l.hash + "\n")
		case strings.TrimSpace(l.raw) != "":
			b.WriteString(l.raw)
			if !strings.HasSuffix(l.raw, "\n") {
				b.WriteByte('\n')
			}
		}
	}
	return []byte(b.String())
}

// maskHash keeps a hash's scheme prefix so a diff tells the scheme, and
// hides the rest.
func maskHash(h string) string {
	if i := strings.LastIndexByte(h, '$'); i >= 0 {
		return h[:i+1] + "********"
	}
	if strings.HasPrefix(h, "{SHA}") {
		return "{SHA}********"
	}
	return "********"
}

func (m *Htpasswd) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	cur, err := fileplan.Read(ctx, h.Conn(), m.Path)
	if err != nil {
		return plan.Diff{}, err
	}
	var d plan.Diff
	if !cur.Exists {
		if m.State == "absent" {
			m.msg = m.Name + " not present"
			return d, nil
		}
		if !m.Create {
			return d, fmt.Errorf("Destination %s does not exist", m.Path) //nolint:staticcheck // Ansible's message
		}
	}
	lines, err := parseHtpasswd(string(cur.Data))
	if err != nil {
		return d, fmt.Errorf("%s: %w", m.Path, err)
	}
	i := slices.IndexFunc(lines, func(l htpasswdLine) bool { return l.user == m.Name })
	before := slices.Clone(lines)
	switch {
	case m.State == "absent" && i < 0:
		m.msg = m.Name + " not present"
	case m.State == "absent":
		lines = slices.Delete(lines, i, i+1)
		m.msg = "Remove " + m.Name
	case i >= 0 && htpasswdVerify(lines[i].hash, m.Password, m.CryptScheme):
		m.msg = m.Name + " already present"
	default:
		hash, err := htpasswdSchemes[m.CryptScheme](m.Password)
		if err != nil {
			return d, fmt.Errorf("hash the password (%s): %w", m.CryptScheme, err)
		}
		if i >= 0 {
			lines[i].hash = hash
			m.msg = "Add/update " + m.Name
		} else {
			lines = append(lines, htpasswdLine{user: m.Name, hash: hash})
			m.msg = "Add/update " + m.Name
		}
		if !cur.Exists {
			m.msg = "Created " + m.Path + " and added " + m.Name
		}
	}
	want := cur.Data
	if !slices.Equal(before, lines) {
		want = renderHtpasswd(lines, false)
	}
	// The plan's content is written as planned (the salt is random), but
	// the diff shows the lines with their hashes masked.
	var scratch plan.Diff
	f, err := fileplan.Plan(ctx, h.Conn(), cur, fileplan.Want{Path: m.Path, Content: want, Attrs: m.Attrs.plan(), ListNewAttrs: true, Sensitive: true}, &scratch)
	if err != nil {
		return d, err
	}
	if !f.Changed() {
		return d, nil
	}
	for _, c := range scratch.Changes {
		if c.Field == "content" {
			act := plan.Update
			if !cur.Exists {
				act = plan.Create
			}
			c = fileplan.ContentChange("file:"+m.Path, act, renderHtpasswd(before, true), renderHtpasswd(lines, true))
		}
		d.Add(c)
	}
	d.State = f
	return d, nil
}

func (m *Htpasswd) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	f, err := modules.StateOf[*fileplan.File](h, "htpasswd", d)
	if err != nil {
		return err
	}
	_, err = f.Apply(ctx, h.Conn(), fileplan.Options{Parents: true, Log: h.Log()})
	return err
}

var (
	_ modules.Module   = (*Htpasswd)(nil)
	_ modules.Reader   = (*Htpasswd)(nil)
	_ modules.Resulter = (*Htpasswd)(nil)
)
