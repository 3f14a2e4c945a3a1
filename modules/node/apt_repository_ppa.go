package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

// Launchpad PPAs as ansible-core 2.14's apt_repository (UbuntuSourcesList)
// handles them: "ppa:OWNER/NAME" stands for the line
// "deb http://ppa.launchpad.net/OWNER/NAME/ubuntu CODENAME main" in
// sources.list.d/ppa_OWNER_NAME_CODENAME.list, CODENAME being the codename
// argument or the host's release. Adding one asks Launchpad's API for the
// PPA's signing key fingerprint and, when apt does not trust that key yet,
// fetches it from keyserver.ubuntu.com; both go out from the host, as
// Ansible's requests do.
const (
	launchpadAPI = "https://launchpad.net/api/1.0/~%s/+archive/%s"
	// hkp://keyserver.ubuntu.com:80, the key server Ansible hands apt-key.
	ubuntuKeyserver = "http://keyserver.ubuntu.com:80/pks/lookup?op=get&options=mr&search=0x%s"
	ppaURI          = "http://ppa.launchpad.net"
)

// aptKeyDirs is Ansible's APT_KEY_DIRS: where it looks for a key, and the
// first existing one is where it writes one when the host has no apt-key.
var aptKeyDirs = []string{"/etc/apt/keyrings", "/etc/apt/trusted.gpg.d", "/usr/share/keyrings"}

// ppa is a parsed "ppa:OWNER/NAME" (NAME defaults to ppa).
type ppa struct {
	owner, name string
	// launchpad and keyserver are the URL patterns; tests point them at a
	// local server.
	launchpad, keyserver string
}

var lpName = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]*$`)

// parsePPA is Ansible's _expand_ppa split: the text after the first
// colon, OWNER before the first slash, NAME after it or "ppa".
func parsePPA(repo string) (*ppa, error) {
	rest := strings.SplitN(repo, ":", 3)[1]
	owner, name, ok := strings.Cut(rest, "/")
	if !ok {
		name = "ppa"
	}
	name, _, _ = strings.Cut(name, "/")
	if !lpName.MatchString(owner) || !lpName.MatchString(name) {
		return nil, fmt.Errorf("repo %q: expected ppa:OWNER/NAME with Launchpad names (lower-case letters, digits, +, - and .)", repo)
	}
	return &ppa{owner: owner, name: name, launchpad: launchpadAPI, keyserver: ubuntuKeyserver}, nil
}

// line is the source a PPA stands for on a release.
func (p *ppa) line(codename string) string {
	return fmt.Sprintf("deb %s/%s/%s/ubuntu %s main", ppaURI, p.owner, p.name, codename)
}

func (p *ppa) apiURL() string { return fmt.Sprintf(p.launchpad, p.owner, p.name) }

// expandPPA sets the source line and the name the file is suggested from,
// which need the host's codename. On a host other than Ubuntu a PPA has no
// suite for the host's release: Ansible writes the line anyway and its
// apt-get update then fails on the missing Release file, so gpuctl refuses
// it up front unless codename names an Ubuntu release, as Ansible's docs
// show for Debian.
func (a *AnsibleRepo) expandPPA(ctx context.Context, c conn.Conn, present bool) error {
	d, err := readDistro(ctx, c)
	if err != nil {
		return err
	}
	codename := a.Codename
	if codename == "" {
		codename = d.Codename
	}
	if codename == "" {
		return fmt.Errorf("repo %s on %s: the host's release has no codename; give codename", a.Repo, strings.TrimSpace(d.name()))
	}
	a.setPPARelease(codename)
	a.nonUbuntu = ""
	if present && d.ID != "ubuntu" && a.Codename == "" {
		a.nonUbuntu = strings.TrimSpace(d.name())
	}
	return nil
}

// setPPARelease is Ansible's _expand_ppa and the text add_source
// suggests the file name from ("ppa:OWNER/NAME_CODENAME").
func (a *AnsibleRepo) setPPARelease(codename string) {
	a.source = a.ppa.line(codename)
	a.suggest = a.Repo + "_" + codename
}

// ppaKeySteps is Ansible's add_source for a PPA that is not yet among the
// enabled sources: the PPA's signing key, unless apt trusts it already.
func (a *AnsibleRepo) ppaKeySteps(ctx context.Context, c conn.Conn, s *steps) error {
	if a.nonUbuntu != "" {
		return fmt.Errorf("repo %s on %s: Launchpad PPAs are built for Ubuntu releases, and this host is not Ubuntu: "+
			"the line would name suite %q, which the PPA does not have (Ansible's apt-get update then fails). "+
			"Give codename: an Ubuntu release, as Ansible's documentation does for Debian, or use the PPA's deb line with its key",
			a.Repo, a.nonUbuntu, strings.Fields(a.source)[3])
	}
	fpr, err := a.ppa.fingerprint(ctx, c)
	if err != nil {
		return err
	}
	aptKey, keyfile, err := ppaKeyTarget(ctx, c, a.source, a.ppa)
	if err != nil {
		return err
	}
	known, err := trustedKeyIDs(ctx, c)
	if err != nil {
		return err
	}
	if slices.Contains(known, fpr[len(fpr)-16:]) {
		return nil
	}
	where := "apt-key (/etc/apt/trusted.gpg)"
	if !aptKey {
		where = keyfile
	}
	s.add(plan.Change{Resource: "apt-key:" + fpr, Action: plan.Create, Field: "key", After: "from " + fmt.Sprintf(a.ppa.keyserver, fpr) + " into " + where},
		func(ctx context.Context, c conn.Conn) error { return a.ppa.addKey(ctx, c, fpr, aptKey, keyfile) })
	return nil
}

// fingerprint asks Launchpad's API, from the host, for the PPA's signing
// key.
func (p *ppa) fingerprint(ctx context.Context, c conn.Conn) (string, error) {
	u := p.apiURL()
	body, err := hostGet(ctx, c, u, map[string]string{"Accept": "application/json"})
	if err != nil {
		// A dry run must not stop where an earlier task (a proxy) may open
		// the way: known after apply. A real run fails.
		return "", modules.NotYet("failed to fetch PPA information from %s on the host, error was: %s", u, err)
	}
	var info struct {
		Fingerprint string `json:"signing_key_fingerprint"`
	}
	if err := json.Unmarshal(body, &info); err != nil {
		return "", fmt.Errorf("PPA information from %s: %w", u, err)
	}
	fpr := strings.ToUpper(info.Fingerprint)
	if len(fpr) < 16 || !isHex(fpr) {
		return "", fmt.Errorf("PPA information from %s: signing_key_fingerprint %q is not a fingerprint", u, info.Fingerprint)
	}
	return fpr, nil
}

// ppaKeyTarget is where Ansible puts a PPA's key: apt-key's keyring when
// the host has apt-key, else a file in the first existing APT_KEY_DIRS
// named after the line's last words and the PPA. Either way gpg is needed,
// as Ansible needs apt-key or gpg.
func ppaKeyTarget(ctx context.Context, c conn.Conn, source string, p *ppa) (aptKey bool, keyfile string, err error) {
	out, err := output(ctx, c, "command -v apt-key >/dev/null && echo apt-key; command -v gpg >/dev/null && echo gpg; for d in "+strings.Join(aptKeyDirs, " ")+`; do [ -d "$d" ] && echo "$d"; done; true`)
	if err != nil {
		return false, "", fmt.Errorf("look for apt-key and gpg: %w", err)
	}
	have := lines(out)
	if !slices.Contains(have, "gpg") {
		return false, "", modules.NotYet("adding a PPA needs gpg on the host, which it lacks (Ansible needs apt-key or gpg): install the Debian package gnupg in an earlier task")
	}
	if slices.Contains(have, "apt-key") {
		return true, "", nil
	}
	for _, d := range aptKeyDirs {
		if slices.Contains(have, d) {
			name := strings.ReplaceAll(path.Base(source), " ", "-") + "-" + p.owner + "-" + p.name + ".gpg"
			return false, d + "/" + name, nil
		}
	}
	return false, "", fmt.Errorf("unable to find any existing apt gpg repo directories, tried the following: %s", strings.Join(aptKeyDirs, ", "))
}

// trustedKeyIDs lists the long ids of the keys in every keyring Ansible
// looks in: apt's trusted.gpg and APT_KEY_DIRS.
func trustedKeyIDs(ctx context.Context, c conn.Conn) ([]string, error) {
	out, err := output(ctx, c, gpgShow+`set -- /etc/apt/trusted.gpg`+func() string {
		var b strings.Builder
		for _, d := range aptKeyDirs {
			b.WriteString(" " + d + "/*")
		}
		return b.String()
	}()+`; for f; do case "$f" in */.*) continue;; esac; if [ -f "$f" ] && [ -s "$f" ]; then show "$f" 2>/dev/null || true; fi; done`)
	if err != nil {
		return nil, fmt.Errorf("list apt keys: %w", err)
	}
	return parseKeyListing(out), nil
}

// addKey fetches the key from the key server and checks that it is the
// one Launchpad named before apt trusts it.
func (p *ppa) addKey(ctx context.Context, c conn.Conn, fpr string, aptKey bool, keyfile string) error {
	u := fmt.Sprintf(p.keyserver, fpr)
	key, err := hostGet(ctx, c, u, nil)
	if err != nil {
		return fmt.Errorf("unable to get required signing key %s: %w", fpr, err)
	}
	out, err := output(ctx, c, gpgShow+"show", conn.Stdin(bytes.NewReader(key)))
	if err != nil {
		return fmt.Errorf("read the key from %s: %w", u, err)
	}
	if !strings.Contains(out, ":"+fpr+":") && !slices.Contains(parseKeyListing(out), fpr[len(fpr)-16:]) {
		return fmt.Errorf("the key from %s is not %s", u, fpr)
	}
	cmd := "apt-key add - >/dev/null"
	if !aptKey {
		cmd = "gpg --batch --yes --dearmor -o " + conn.Quote(keyfile) + " && chmod 0644 " + conn.Quote(keyfile)
	}
	if err := sh(ctx, c, cmd, conn.Stdin(bytes.NewReader(key))); err != nil {
		return fmt.Errorf("unable to add required signing key %s: %w", fpr, err)
	}
	return nil
}
