package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/generic"
	"github.com/gpuctl/gpuctl/modules/internal/fileplan"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:    "deb822_repository",
		Summary: "Add or remove an apt repository as a deb822 .sources file with its signing key, as Ansible's deb822_repository does",
		CheckMode: "Reads the .sources file and, for a signed_by URL, downloads the key on the host to compare it, as Ansible does; " +
			"reports the file and key it would write or remove (--diff shows the .sources file's diff); changes nothing.",
		Example: `- name: Docker's repository
  deb822_repository:
    name: docker
    types: deb
    uris: https://download.docker.com/linux/debian
    suites: "{{ ansible_distribution_release }}"
    components: stable
    signed_by: https://download.docker.com/linux/debian/gpg`,
		New: func() modules.Module { return &Deb822Repository{} },
	})
}

// Deb822Repository is ansible.builtin.deb822_repository (ansible-core 2.15):
// /etc/apt/sources.list.d/SLUG.sources written as Ansible writes it, field
// for field, and a signed_by URL's key in /etc/apt/keyrings/SLUG.asc (or
// .gpg). Like Ansible's it does not refresh the apt cache: the next apt
// task with update_cache sees the new file (sourcesChanged).
type Deb822Repository struct {
	AllowDowngradeToInsecure *bool        `yaml:"allow_downgrade_to_insecure" doc:"Allow-Downgrade-To-Insecure: allow downgrading a package that was authenticated to one that is not"`
	AllowInsecure            *bool        `yaml:"allow_insecure" doc:"Allow-Insecure: allow an unsigned repository"`
	AllowWeak                *bool        `yaml:"allow_weak" doc:"Allow-Weak: allow a repository signed with a weak digest"`
	Architectures            []string     `yaml:"architectures" doc:"Architectures: only these architectures"`
	ByHash                   *bool        `yaml:"by_hash" doc:"By-Hash: fetch indexes by their hash"`
	CheckDate                *bool        `yaml:"check_date" doc:"Check-Date: trust the host's clock for Release dates"`
	CheckValidUntil          *bool        `yaml:"check_valid_until" doc:"Check-Valid-Until: refuse an expired Release file"`
	Components               []string     `yaml:"components" doc:"Components (main, stable); none for a suite that is an exact path (ends with /)"`
	DateMaxFuture            *int         `yaml:"date_max_future" doc:"Date-Max-Future: seconds a Release file may be dated in the future"`
	Enabled                  *bool        `yaml:"enabled" doc:"Enabled: false keeps the file but apt ignores the source"`
	InreleasePath            string       `yaml:"inrelease_path" doc:"Inrelease-Path: the InRelease file's path, relative to its usual place"`
	Languages                []string     `yaml:"languages" doc:"Languages: the translations to download"`
	Name                     string       `yaml:"name" required:"true" doc:"X-Repolib-Name, and the file names: lower-cased, runs of _ and spaces as -, other characters than a-z, 0-9 and - dropped (\"Docker CE\" gives docker-ce.sources)"`
	Pdiffs                   *bool        `yaml:"pdiffs" doc:"Pdiffs: update indexes with diffs (PDiffs)"`
	SignedBy                 string       `yaml:"signed_by" doc:"Signed-By: a URL of the key (downloaded on the host into /etc/apt/keyrings/SLUG.asc, or .gpg for a binary key), an absolute path of a keyring on the host, an ASCII-armoured key block, or key fingerprints"`
	Suites                   []string     `yaml:"suites" doc:"Suites: release codenames, or one exact path ending with / (a flat repository)"`
	Targets                  []string     `yaml:"targets" doc:"Targets: the download targets to fetch"`
	Trusted                  *bool        `yaml:"trusted" doc:"Trusted: trust the source without a signature"`
	Types                    []string     `yaml:"types" default:"deb" doc:"Types: deb and/or deb-src"`
	URIs                     []string     `yaml:"uris" doc:"URIs: the repository's base URLs"`
	Mode                     generic.Mode `yaml:"mode" default:"0644" doc:"the .sources file's mode, octal or symbolic"`
	State                    string       `yaml:"state" default:"present" choices:"present,absent" doc:"absent removes the .sources file and the key files SLUG.asc and SLUG.gpg"`

	result map[string]any
}

// deb822Fields are the stanza's fields in the order Ansible writes them
// (its arguments sorted by name) under format_field_name's spelling.
var deb822Fields = []struct{ arg, field string }{
	{"allow_downgrade_to_insecure", "Allow-Downgrade-To-Insecure"},
	{"allow_insecure", "Allow-Insecure"},
	{"allow_weak", "Allow-Weak"},
	{"architectures", "Architectures"},
	{"by_hash", "By-Hash"},
	{"check_date", "Check-Date"},
	{"check_valid_until", "Check-Valid-Until"},
	{"components", "Components"},
	{"date_max_future", "Date-Max-Future"},
	{"enabled", "Enabled"},
	{"inrelease_path", "Inrelease-Path"},
	{"languages", "Languages"},
	{"name", "X-Repolib-Name"},
	{"pdiffs", "Pdiffs"},
	{"signed_by", "Signed-By"},
	{"suites", "Suites"},
	{"targets", "Targets"},
	{"trusted", "Trusted"},
	{"types", "Types"},
	{"uris", "URIs"},
}

// Provision splits a list given as one comma-separated string, as
// Ansible's list type does ("main,contrib").
func (m *Deb822Repository) Provision() {
	for _, l := range []*[]string{&m.Architectures, &m.Components, &m.Languages, &m.Suites, &m.Targets, &m.Types, &m.URIs} {
		if len(*l) == 1 && strings.Contains((*l)[0], ",") {
			var out []string
			for _, s := range strings.Split((*l)[0], ",") {
				out = append(out, strings.TrimSpace(s))
			}
			*l = out
		}
	}
}

var fingerprints = regexp.MustCompile(`^(0[xX])?[0-9A-Fa-f]{16,40}!?([ ,]+(0[xX])?[0-9A-Fa-f]{16,40}!?)*$`)

func (m *Deb822Repository) Validate() error {
	if m.slug() == "" {
		return fmt.Errorf("name %q: gives an empty file name (Ansible keeps only a-z, 0-9 and - of it)", m.Name)
	}
	if err := m.Mode.Validate(); err != nil {
		return err
	}
	for _, t := range m.Types {
		if !slices.Contains(sourceTypes, t) {
			return fmt.Errorf("types: %q is not one of deb, deb-src", t)
		}
	}
	if m.State == "absent" {
		return nil
	}
	// Ansible writes whatever it is given; apt then refuses the whole
	// sources.list.d at the next update. These are apt's rules.
	switch {
	case len(m.URIs) == 0:
		return errors.New("uris is required with state: present (apt refuses a source without URIs)")
	case len(m.Suites) == 0:
		return errors.New("suites is required with state: present (a release codename, or an exact path ending with /)")
	}
	for _, u := range m.URIs {
		p, err := url.Parse(u)
		if err != nil || p.Scheme == "" || p.Host == "" && p.Scheme != "file" && p.Scheme != "cdrom" {
			return fmt.Errorf("uri %q is not a URL", u)
		}
	}
	for _, s := range m.Suites {
		exact := strings.HasSuffix(s, "/")
		if exact && len(m.Components) > 0 {
			return fmt.Errorf("suite %q is an exact path: it takes no components (apt refuses them)", s)
		}
		if !exact && len(m.Components) == 0 {
			return fmt.Errorf("suite %q needs components (main, stable), or end it with / for an exact path", s)
		}
	}
	if sb := m.SignedBy; sb != "" {
		switch sc := urlScheme(sb); {
		case sc != "" && sc != "http" && sc != "https":
			return fmt.Errorf("signed_by %q: only http and https URLs can be downloaded", sb)
		case sc != "", path.IsAbs(sb), strings.Contains(sb, "-----BEGIN PGP PUBLIC KEY BLOCK-----"), fingerprints.MatchString(strings.TrimSpace(sb)):
		default:
			return fmt.Errorf("signed_by %q: not a URL, an absolute path on the host, an ASCII-armoured key block or key fingerprints", firstBytes([]byte(sb)))
		}
	}
	return nil
}

// slug is Ansible's file name for the repository.
func (m *Deb822Repository) slug() string {
	s := regexp.MustCompile(`[_\s]+`).ReplaceAllString(strings.ToLower(m.Name), "-")
	return regexp.MustCompile(`[^a-z0-9-]+`).ReplaceAllString(s, "")
}

func (m *Deb822Repository) dest() string { return "/etc/apt/sources.list.d/" + m.slug() + ".sources" }

func (m *Deb822Repository) keyFile(ext string) string {
	return "/etc/apt/keyrings/" + m.slug() + "." + ext
}

// urlScheme is the scheme Python's urlsplit finds: letters, digits, +, -
// and . before the first colon, starting with a letter; "" for none.
func urlScheme(s string) string {
	i := strings.IndexByte(s, ':')
	if i <= 0 || !isASCIILetter(s[0]) {
		return ""
	}
	for _, c := range []byte(s[:i]) {
		if !isASCIILetter(c) && (c < '0' || c > '9') && c != '+' && c != '-' && c != '.' {
			return ""
		}
	}
	return strings.ToLower(s[:i])
}

func isASCIILetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func yesNo(b *bool) string {
	switch {
	case b == nil:
		return ""
	case *b:
		return "yes"
	}
	return "no"
}

// stanza is the .sources file, as Ansible's Deb822.dump writes it, with
// signedBy as the Signed-By value ("" for none).
func (m *Deb822Repository) stanza(signedBy string) string {
	vals := map[string]string{
		"allow_downgrade_to_insecure": yesNo(m.AllowDowngradeToInsecure), "allow_insecure": yesNo(m.AllowInsecure),
		"allow_weak": yesNo(m.AllowWeak), "architectures": strings.Join(m.Architectures, " "), "by_hash": yesNo(m.ByHash),
		"check_date": yesNo(m.CheckDate), "check_valid_until": yesNo(m.CheckValidUntil), "components": strings.Join(m.Components, " "),
		"enabled": yesNo(m.Enabled), "inrelease_path": m.InreleasePath, "languages": strings.Join(m.Languages, " "),
		"name": m.Name, "pdiffs": yesNo(m.Pdiffs), "signed_by": signedBy, "suites": strings.Join(m.Suites, " "),
		"targets": strings.Join(m.Targets, " "), "trusted": yesNo(m.Trusted), "types": strings.Join(m.Types, " "),
		"uris": strings.Join(m.URIs, " "),
	}
	if m.DateMaxFuture != nil {
		vals["date_max_future"] = strconv.Itoa(*m.DateMaxFuture)
	}
	var b strings.Builder
	for _, f := range deb822Fields {
		v := vals[f.arg]
		switch {
		case v == "":
		case strings.Contains(v, "\n"):
			// format_multiline: each line stripped and indented, an empty
			// line written as ".", the value starting on the next line.
			b.WriteString(f.field + ":\n")
			for l := range strings.SplitSeq(strings.TrimSpace(v), "\n") {
				if l = strings.TrimSpace(l); l == "" {
					l = "."
				}
				b.WriteString("    " + l + "\n")
			}
		default:
			b.WriteString(f.field + ": " + v + "\n")
		}
	}
	return b.String()
}

// signedBy is what Signed-By says and, when it names a key file, that
// file (Ansible's key_filename): a keyring already on the host, or the
// key downloaded from a URL, which key then holds.
type signedBy struct {
	value, file string
	key         []byte
}

// resolveSignedBy is Ansible's write_signed_by_key: a file on the host is
// named as it is, a URL is downloaded (on the host's network), anything
// else is written into the stanza as given.
func (m *Deb822Repository) resolveSignedBy(ctx context.Context, h modules.Host) (signedBy, error) {
	sb := m.SignedBy
	if sb == "" {
		return signedBy{}, nil
	}
	if path.IsAbs(sb) && !strings.Contains(sb, "\n") {
		isFile, err := isRegularFile(ctx, h.Conn(), sb)
		if err != nil {
			return signedBy{}, err
		}
		if isFile {
			return signedBy{value: sb, file: sb}, nil
		}
	}
	if urlScheme(sb) == "" {
		return signedBy{value: sb}, nil
	}
	key, err := hostGet(ctx, h.Conn(), sb, nil)
	if err == nil && len(key) == 0 {
		err = errors.New("the server sent an empty file")
	}
	if err != nil {
		// A dry run must not stop at an unreachable URL (an earlier task
		// may open the way): known after apply. A real run fails.
		return signedBy{}, modules.NotYet("Could not fetch signed_by key: %s (downloaded on the host)", err)
	}
	ext := "gpg"
	if bytes.Contains(key, []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----")) {
		ext = "asc"
	}
	f := m.keyFile(ext)
	return signedBy{value: f, file: f, key: key}, nil
}

// isRegularFile is os.path.isfile on the host: a regular file, through
// symlinks.
func isRegularFile(ctx context.Context, c conn.Conn, p string) (bool, error) {
	fi, err := c.Stat(ctx, p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("stat %s: %w", p, err)
	case fi.IsLink():
		r, err := c.Run(ctx, "test -f "+conn.Quote(p))
		if err != nil {
			return false, fmt.Errorf("test -f %s: %w", p, err)
		}
		return r.OK(), nil
	}
	return fi.Mode.IsRegular(), nil
}

func (m *Deb822Repository) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	c := h.Conn()
	s := &steps{}
	if m.State == "absent" {
		for _, p := range []string{m.dest(), m.keyFile("asc"), m.keyFile("gpg")} {
			if err := removeStep(ctx, c, s, p); err != nil {
				return plan.Diff{}, err
			}
		}
		// Ansible returns the last key path it looked at.
		m.result = map[string]any{"repo": nil, "dest": m.dest(), "key_filename": m.keyFile("gpg")}
		return s.diff(), nil
	}
	sb, err := m.resolveSignedBy(ctx, h)
	if err != nil {
		return plan.Diff{}, err
	}
	if sb.key != nil {
		// The key is public; its file is 0644 as Ansible makes it.
		if err := fileStep(ctx, c, s, sb.file, sb.key, 0o644, false); err != nil {
			return plan.Diff{}, err
		}
	}
	repo := m.stanza(sb.value)
	var d plan.Diff
	f, err := fileplan.Check(ctx, c, fileplan.Want{Path: m.dest(), Content: []byte(repo), Attrs: fileplan.Attrs{Mode: m.Mode}}, &d)
	if err != nil {
		return plan.Diff{}, err
	}
	s.addAll(d, func(ctx context.Context, c conn.Conn) error {
		_, err := f.Apply(ctx, c, fileplan.Options{Parents: true})
		return err
	})
	var keyFile any
	if sb.file != "" {
		keyFile = sb.file
	}
	m.result = map[string]any{"repo": repo, "dest": m.dest(), "key_filename": keyFile}
	return s.diff(), nil
}

func (m *Deb822Repository) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	if err := applySteps(ctx, h, "deb822_repository", d); err != nil {
		return err
	}
	if m.State == "absent" {
		return nil
	}
	return sourcesChanged(ctx, h.Conn(), m.dest(), m.keyFile("asc"), m.keyFile("gpg"))
}

// Result is what Ansible registers: repo (the stanza; none for absent),
// dest and key_filename.
func (m *Deb822Repository) Result() map[string]any { return m.result }

// sourcesChanged makes the next apt task with update_cache see that the
// files at paths were written. apt's cache counts as stale when a file in
// sources.list.d or keyrings is newer than the last update's stamp
// (cacheAge), in whole seconds: a file written in the very second of the
// last update would look as old as the cache, so such a stamp is moved a
// second back.
func sourcesChanged(ctx context.Context, c conn.Conn, paths ...string) error {
	var written []time.Time
	for _, p := range paths {
		fi, err := c.Stat(ctx, p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("stat %s: %w", p, err)
		}
		written = append(written, fi.ModTime.Truncate(time.Second))
	}
	for _, stamp := range aptStamps {
		st, err := c.Stat(ctx, stamp)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("stat %s: %w", stamp, err)
		}
		at := st.ModTime.Truncate(time.Second)
		if !slices.ContainsFunc(written, at.Equal) {
			continue
		}
		t := at.Add(-time.Second)
		if err := conn.Chtimes(ctx, c, stamp, t, t); err != nil {
			return fmt.Errorf("mark the apt cache stale: %w", err)
		}
	}
	return nil
}

var (
	_ modules.Module      = (*Deb822Repository)(nil)
	_ modules.Resulter    = (*Deb822Repository)(nil)
	_ modules.Provisioner = (*Deb822Repository)(nil)
)
