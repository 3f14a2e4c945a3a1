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
	"github.com/gpuctl/gpuctl/modules/internal/fileplan"
	"github.com/gpuctl/gpuctl/plan"
)

// AnsibleRepo is ansible.builtin.apt_repository's one-line form:
// `repo: "deb [signed-by=...] URL suite component"` kept in a .list file,
// edited as Ansible edits sources.list and sources.list.d/*.list.
type AnsibleRepo struct {
	Repo     string `yaml:"repo" doc:"Ansible's one-line source, such as \"deb [arch=amd64 signed-by=/etc/apt/keyrings/docker.asc] https://download.docker.com/linux/debian bookworm stable\" (instead of name, uris, suites)"`
	Filename string `yaml:"filename" doc:"with repo: the file in sources.list.d, without .list (default: from the repository's host and path, as Ansible names it)"`
	Mode     string `yaml:"mode" doc:"with repo: the mode of the .list file (default 0644 for a new file; an existing file keeps its mode)"`
	Codename string `yaml:"codename" doc:"with repo: ppa:OWNER/NAME, the Ubuntu release whose suite the line names (default: the host's codename)"`
	// Accepted so that Ansible content loads; gpuctl needs no Python on hosts.
	InstallPythonApt bool `yaml:"install_python_apt" doc:"accepted for Ansible playbooks; gpuctl needs no python3-apt"`
	ValidateCerts    bool `yaml:"validate_certs" default:"true" doc:"must stay true: Launchpad's API, the one request it applies to, is always verified"`

	source string
	result map[string]any
	// A ppa: repo's source, and the text its file name is suggested from,
	// depend on the host's codename (expandPPA).
	ppa       *ppa
	suggest   string
	nonUbuntu string // the host's OS name where a PPA has no suite for it
}

var sourceTypes = []string{"deb", "deb-src"}

// parseSourceLine is Ansible's _parse: whether the line is a source, whether
// it is enabled (not commented out), the source with whitespace collapsed,
// and a trailing comment.
func parseSourceLine(line string) (valid, enabled bool, source, comment string) {
	enabled = true
	line = strings.TrimSpace(line)
	if strings.HasPrefix(line, "#") {
		enabled = false
		line = line[1:]
	}
	if i := strings.Index(line, "#"); i > 0 {
		comment = strings.TrimSpace(line[i+1:])
		line = line[:i]
	}
	source = strings.TrimSpace(line)
	if f := strings.Fields(source); len(f) > 0 && slices.Contains(sourceTypes, f[0]) {
		valid, source = true, strings.Join(f, " ")
	}
	return valid, enabled, source, comment
}

func (a *AnsibleRepo) validateRepo() error {
	if strings.HasPrefix(a.Repo, "ppa:") {
		p, err := parsePPA(a.Repo)
		if err != nil {
			return err
		}
		if strings.ContainsAny(a.Codename, " \t\n/") {
			return fmt.Errorf("codename %q: a release codename such as jammy", a.Codename)
		}
		if !a.ValidateCerts {
			return errors.New("validate_certs: false is not supported: Launchpad's API is asked over HTTPS with certificates verified")
		}
		a.ppa = p
	} else {
		valid, enabled, src, _ := parseSourceLine(a.Repo)
		if !valid || !enabled || len(strings.Fields(regexp.MustCompile(`\[[^\]]+\]`).ReplaceAllString(src, ""))) < 3 {
			return fmt.Errorf("repo %q: expected a source line such as \"deb [signed-by=/etc/apt/keyrings/x.asc] https://example.com/debian bookworm main\" or ppa:OWNER/NAME", a.Repo)
		}
		a.source, a.suggest = src, src
	}
	if a.Filename != "" && strings.ContainsAny(a.Filename, " \t\n") {
		return fmt.Errorf("filename %q: no spaces", a.Filename)
	}
	if a.Mode != "" {
		if _, err := strconv.ParseUint(a.Mode, 8, 32); err != nil {
			return fmt.Errorf("mode %q: expected an octal mode such as 0644", a.Mode)
		}
	}
	return nil
}

// file is Ansible's _suggest_filename and _expand_path.
func (a *AnsibleRepo) file() string {
	name := a.Filename
	if name == "" {
		line := regexp.MustCompile(`\[[^\]]+\]`).ReplaceAllString(a.suggest, "")
		line = regexp.MustCompile(`\w+://`).ReplaceAllString(line, "")
		var parts []string
		for _, p := range strings.Fields(line) {
			if !slices.Contains(sourceTypes, p) {
				parts = append(parts, p)
			}
		}
		host := parts[0]
		if _, after, ok := strings.Cut(host, "@"); ok {
			host = after
		}
		name = strings.Join(strings.Fields(regexp.MustCompile(`[^a-zA-Z0-9]`).ReplaceAllString(host, " ")), "_")
	}
	name += ".list"
	if strings.Contains(name, "/") {
		return name
	}
	return "/etc/apt/sources.list.d/" + name
}

// srcLine is one line of a sources file as Ansible keeps it.
type srcLine struct {
	valid, enabled  bool
	source, comment string
}

func dumpSources(ls []srcLine) string {
	var b strings.Builder
	for _, l := range ls {
		if !l.enabled {
			b.WriteString("# ")
		}
		b.WriteString(l.source)
		if l.comment != "" {
			b.WriteString(" # " + l.comment)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// plan reads sources.list and sources.list.d/*.list and returns the steps
// that add (enable) or remove the source, file by file.
func (a *AnsibleRepo) planRepo(ctx context.Context, h modules.Host, present bool) (*steps, error) {
	c := h.Conn()
	if a.ppa != nil {
		if err := a.expandPPA(ctx, c, present); err != nil {
			return nil, err
		}
	}
	out, err := output(ctx, c, `for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do [ -f "$f" ] && echo "$f"; done; true`)
	if err != nil {
		return nil, fmt.Errorf("list apt sources: %w", err)
	}
	files := map[string][]srcLine{}
	texts := map[string]string{}
	names := lines(out)
	for _, f := range names {
		b, _, err := readFile(ctx, c, f)
		if err != nil {
			return nil, err
		}
		texts[f] = string(b)
		for _, l := range strings.SplitAfter(string(b), "\n") {
			if l == "" {
				continue
			}
			v, e, s, cm := parseSourceLine(l)
			files[f] = append(files[f], srcLine{v, e, s, cm})
		}
	}
	changed := map[string]bool{}
	found, enabled := false, false
	for _, f := range names {
		for i, l := range files[f] {
			if !l.valid || l.source != a.source {
				continue
			}
			found, enabled = true, enabled || l.enabled
			if present && !l.enabled {
				files[f][i].enabled, changed[f] = true, true
			}
			if !present && l.enabled {
				changed[f] = true
			}
		}
		if !present && changed[f] {
			files[f] = slices.DeleteFunc(files[f], func(l srcLine) bool { return l.valid && l.enabled && l.source == a.source })
		}
	}
	target := a.file()
	if present && !found {
		if _, ok := files[target]; !ok {
			names = append(names, target)
		}
		files[target] = append(files[target], srcLine{true, true, a.source, ""})
		changed[target] = true
	}
	s := &steps{}
	if a.ppa != nil && present && !enabled {
		if err := a.ppaKeySteps(ctx, c, s); err != nil {
			return nil, err
		}
	}
	a.result = map[string]any{"repo": a.Repo, "state": map[bool]string{true: "present", false: "absent"}[present], "sources_added": []string{}, "sources_removed": []string{}}
	for _, f := range names {
		if !changed[f] {
			continue
		}
		if err := a.fileStep(ctx, c, s, f, dumpSources(files[f])); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (a *AnsibleRepo) fileStep(ctx context.Context, c conn.Conn, s *steps, f, text string) error {
	if text == "" {
		// Ansible removes a sources file it left empty.
		a.result["sources_removed"] = append(a.result["sources_removed"].([]string), f)
		return removeStep(ctx, c, s, f)
	}
	w := fileplan.Want{Path: f, Content: []byte(text)}
	if a.Mode != "" {
		m, _ := strconv.ParseUint(a.Mode, 8, 32)
		w.Mode = fileplan.Perm(m)
	}
	var d plan.Diff
	fp, err := fileplan.Check(ctx, c, w, &d)
	if err != nil {
		return err
	}
	if !fp.Exists {
		a.result["sources_added"] = append(a.result["sources_added"].([]string), f)
	}
	s.addAll(d, func(ctx context.Context, c conn.Conn) error {
		_, err := fp.Apply(ctx, c, fileplan.Options{Parents: true})
		return err
	})
	return nil
}
