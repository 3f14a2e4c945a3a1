package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:      "apt_repository",
		Summary:   "Add or remove an apt repository in deb822 form with its signing key",
		CheckMode: "Fetches the key (from key_url, on the host) to compare it, and reports the .sources file, key file and conflicting source files it would write or remove; changes nothing.",
		Example: `- name: Kubernetes v1.34 repository
  apt_repository:
    name: kubernetes
    uris: https://pkgs.k8s.io/core:/stable:/v1.34/deb/
    suites: /
    key_url: https://pkgs.k8s.io/core:/stable:/v1.34/deb/Release.key`,
		New: func() modules.Module { return &AptRepository{} },
	})
}

// AptRepository manages /etc/apt/sources.list.d/NAME.sources and the key it
// is signed with, in /etc/apt/keyrings. Keys are never added to apt's global
// keyring: signed-by ties each key to its repository.
type AptRepository struct {
	AptSource   `yaml:",squash"`
	AnsibleRepo `yaml:",squash"`
	State       string        `yaml:"state" default:"present" choices:"present,absent" doc:"absent removes the .sources file and its key (with repo: the line)"`
	UpdateCache bool          `yaml:"update_cache" default:"true" aliases:"update-cache" doc:"run apt-get update when the repository changed"`
	LockTimeout time.Duration `yaml:"lock_timeout" doc:"how long to wait while another process holds the apt lock (default 5m)"`
}

// AptSource is one deb822 source; the containerd and kubernetes_packages
// modules build one too.
type AptSource struct {
	Name          string   `yaml:"name" doc:"required without repo; file name: /etc/apt/sources.list.d/NAME.sources, key /etc/apt/keyrings/NAME.asc (or .gpg)"`
	Types         []string `yaml:"types" doc:"deb and/or deb-src (default deb)"`
	URIs          []string `yaml:"uris" doc:"repository URLs"`
	Suites        []string `yaml:"suites" doc:"suites (distribution codenames), or / for a flat repository"`
	Components    []string `yaml:"components" doc:"components (main, stable); none for a flat repository"`
	Architectures []string `yaml:"architectures" doc:"restrict to these architectures"`
	KeyURL        string   `yaml:"key_url" doc:"URL of the signing key, downloaded on the host (armoured or binary)"`
	KeyFile       string   `yaml:"key_file" doc:"path of the signing key on the machine gpuctl runs on"`
	Key           string   `yaml:"key" doc:"the signing key itself, ASCII-armoured"`
	// RemoveDuplicates deletes other source files naming the same URI: apt
	// refuses two entries for one URI with different signed-by values,
	// which is what a hand-made kubernetes.list next to ours gives.
	RemoveDuplicates bool `yaml:"remove_duplicates" default:"true" doc:"remove other files in sources.list.d that name the same URIs (apt rejects conflicting signed-by values)"`
}

var repoName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

func (r *AptSource) validate(present bool) error {
	if !repoName.MatchString(r.Name) {
		return fmt.Errorf("name %q: use letters, digits, '.', '_' and '-' only", r.Name)
	}
	if !present {
		return nil
	}
	if len(r.URIs) == 0 || len(r.Suites) == 0 {
		return errors.New("uris and suites are required")
	}
	for _, u := range r.URIs {
		p, err := url.Parse(u)
		if err != nil || p.Scheme == "" || p.Host == "" && p.Scheme != "file" {
			return fmt.Errorf("uri %q is not a URL", u)
		}
	}
	for _, s := range r.Suites {
		if strings.HasSuffix(s, "/") && len(r.Components) > 0 {
			return fmt.Errorf("suite %q is a flat repository: it takes no components", s)
		}
	}
	n := 0
	for _, k := range []string{r.KeyURL, r.KeyFile, r.Key} {
		if k != "" {
			n++
		}
	}
	if n != 1 {
		return errors.New("give exactly one of key_url, key_file and key: every repository is signed-by its own key")
	}
	if r.Key != "" && !strings.Contains(r.Key, "-----BEGIN PGP PUBLIC KEY BLOCK-----") {
		return errors.New("key must be an ASCII-armoured public key (-----BEGIN PGP PUBLIC KEY BLOCK-----)")
	}
	if r.KeyURL != "" {
		if u, err := url.Parse(r.KeyURL); err != nil || u.Scheme == "" {
			return fmt.Errorf("key_url %q is not a URL", r.KeyURL)
		}
	}
	return nil
}

func (r *AptRepository) Validate() error {
	if r.Repo == "" {
		if r.Name == "" {
			return errors.New(`missing required argument "name" (or Ansible's one-line "repo")`)
		}
		return r.validate(r.State == "present")
	}
	if r.Name != "" || len(r.URIs) > 0 || len(r.Suites) > 0 || r.KeyURL != "" || r.KeyFile != "" || r.Key != "" {
		return errors.New("repo is Ansible's one-line form; name, uris, suites and the key arguments are the deb822 form: give one of them")
	}
	return r.AnsibleRepo.validateRepo()
}

// Result is what Ansible registers for the one-line form.
func (r *AptRepository) Result() map[string]any { return r.AnsibleRepo.result }

func (r *AptSource) sourcesPath() string { return "/etc/apt/sources.list.d/" + r.Name + ".sources" }

// keyPath depends on the key's form: apt reads .asc files as armoured and
// .gpg files as binary keyrings.
func (r *AptSource) keyPath(key []byte) string {
	if bytes.Contains(key, []byte("-----BEGIN PGP")) {
		return "/etc/apt/keyrings/" + r.Name + ".asc"
	}
	return "/etc/apt/keyrings/" + r.Name + ".gpg"
}

// sources renders the deb822 stanza.
func (r *AptSource) sources(keyPath string) []byte {
	var b strings.Builder
	b.WriteString(managedHeader("apt_repository"))
	types := r.Types
	if len(types) == 0 {
		types = []string{"deb"}
	}
	fmt.Fprintf(&b, "Types: %s\n", strings.Join(types, " "))
	fmt.Fprintf(&b, "URIs: %s\n", strings.Join(r.URIs, " "))
	fmt.Fprintf(&b, "Suites: %s\n", strings.Join(r.Suites, " "))
	if len(r.Components) > 0 {
		fmt.Fprintf(&b, "Components: %s\n", strings.Join(r.Components, " "))
	}
	if len(r.Architectures) > 0 {
		fmt.Fprintf(&b, "Architectures: %s\n", strings.Join(r.Architectures, " "))
	}
	fmt.Fprintf(&b, "Signed-By: %s\n", keyPath)
	return []byte(b.String())
}

// fetchKey gets the key's bytes: from the controller, inline, or downloaded
// on the host with apt's own HTTP client (curl is not on a minimal system).
func (r *AptSource) fetchKey(ctx context.Context, h modules.Host) ([]byte, error) {
	switch {
	case r.Key != "":
		k := strings.TrimSpace(r.Key) + "\n"
		return []byte(k), nil
	case r.KeyFile != "":
		k, err := h.Local().ReadFile(ctx, r.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("key_file: %w", err)
		}
		return k, nil
	}
	return downloadKey(ctx, h.Conn(), r.KeyURL)
}

// downloadKey downloads an OpenPGP key on the host with apt's own HTTP
// client (curl is not on a minimal system); apt_key shares it.
func downloadKey(ctx context.Context, c conn.Conn, keyURL string) ([]byte, error) {
	cmd := `t=$(mktemp) && trap 'rm -f "$t"' EXIT && ` +
		`if [ -x /usr/lib/apt/apt-helper ]; then /usr/lib/apt/apt-helper -q download-file ` + conn.Quote(keyURL) + ` "$t" >&2; ` +
		`elif command -v curl >/dev/null; then curl -fsSL -o "$t" ` + conn.Quote(keyURL) + `; ` +
		`else wget -q -O "$t" ` + conn.Quote(keyURL) + `; fi && base64 -w0 "$t"`
	out, err := output(ctx, c, cmd)
	if err != nil {
		return nil, fmt.Errorf("download key %s on the host: %w", keyURL, err)
	}
	k, err := decodeBase64(out)
	if err != nil {
		return nil, fmt.Errorf("download key %s: %w", keyURL, err)
	}
	if len(k) == 0 {
		return nil, fmt.Errorf("download key %s: empty file", keyURL)
	}
	if !bytes.Contains(k, []byte("-----BEGIN PGP")) && k[0]&0x80 == 0 {
		return nil, fmt.Errorf("download key %s: not an OpenPGP key (got %q…)", keyURL, firstBytes(k))
	}
	return k, nil
}

// plan returns the steps that make the repository present (or absent) and
// whether any file changes, which means the apt cache is stale.
func (r *AptSource) plan(ctx context.Context, h modules.Host, present bool) (*steps, error) {
	c := h.Conn()
	s := &steps{}
	if !present {
		for _, p := range []string{r.sourcesPath(), "/etc/apt/keyrings/" + r.Name + ".asc", "/etc/apt/keyrings/" + r.Name + ".gpg"} {
			if err := removeStep(ctx, c, s, p); err != nil {
				return nil, err
			}
		}
		return s, nil
	}
	key, err := r.fetchKey(ctx, h)
	if err != nil && r.KeyURL != "" && r.Key == "" && r.KeyFile == "" {
		// A dry run must not stop at the first unreachable URL (an earlier
		// task may open the way): known after apply. A real run fails.
		return nil, modules.NotYet("the host cannot download %s now (%s); applying fails until it can, or give key or key_file: %w", r.KeyURL, lastLine(err.Error()), err)
	}
	if err != nil {
		return nil, err
	}
	kp := r.keyPath(key)
	if err := fileStep(ctx, c, s, kp, key, 0o644, false); err != nil {
		return nil, err
	}
	// A key of the other form left by an earlier run would be unused.
	other := strings.TrimSuffix(kp, path.Ext(kp)) + map[string]string{".asc": ".gpg", ".gpg": ".asc"}[path.Ext(kp)]
	if err := removeStep(ctx, c, s, other); err != nil {
		return nil, err
	}
	if err := fileStep(ctx, c, s, r.sourcesPath(), r.sources(kp), 0o644, false); err != nil {
		return nil, err
	}
	if r.RemoveDuplicates {
		dups, err := duplicateSources(ctx, c, r.sourcesPath(), r.URIs)
		if err != nil {
			return nil, err
		}
		for _, p := range dups {
			if err := removeStep(ctx, c, s, p); err != nil {
				return nil, err
			}
		}
	}
	return s, nil
}

// duplicateSources lists files in sources.list.d, other than ours, that
// name one of uris.
func duplicateSources(ctx context.Context, c conn.Conn, ours string, uris []string) ([]string, error) {
	var pats []string
	for _, u := range uris {
		pats = append(pats, "-e "+conn.Quote(strings.TrimSuffix(u, "/")))
	}
	out, err := c.Run(ctx, "grep -lF "+strings.Join(pats, " ")+" /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null")
	if err != nil {
		return nil, fmt.Errorf("look for duplicate sources: %w", err)
	}
	var dups []string
	for _, p := range lines(out.Stdout) {
		if p != ours {
			dups = append(dups, p)
		}
	}
	return dups, nil
}

func (r *AptRepository) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	planFn := r.plan
	if r.Repo != "" {
		planFn = r.AnsibleRepo.planRepo
	}
	s, err := planFn(ctx, h, r.State == "present")
	if err != nil {
		return plan.Diff{}, err
	}
	if !s.empty() && r.UpdateCache {
		apt := newAptRunner(h.Conn(), h.Log(), r.LockTimeout)
		s.add(plan.Change{Resource: "apt:cache", Action: plan.Run, Field: "update", After: "apt-get update"},
			func(ctx context.Context, c conn.Conn) error { return apt.update(ctx) })
	}
	return s.diff(), nil
}

func (r *AptRepository) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	return applySteps(ctx, h, "apt_repository", d)
}

var (
	_ modules.Module   = (*AptRepository)(nil)
	_ modules.Resulter = (*AptRepository)(nil)
)

// lastLine is the last non-empty line of a command's error, the one that
// usually says what went wrong.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			return l
		}
	}
	return s
}
