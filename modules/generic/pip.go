package generic

import (
	"context"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:    "pip",
		Summary: "Install, upgrade or remove Python packages with pip, in a virtualenv it creates or system-wide (ansible.builtin.pip)",
		CheckMode: "Reads `pip list --format=freeze` and compares each requested name and version specifier with it; " +
			"a virtualenv that does not exist yet is reported as created, with every package installed. " +
			"For state=latest, requirements files, extra_args and names pip alone can resolve (URLs, paths, markers) " +
			"it asks pip itself (`pip install --dry-run`), where Ansible reports a change without looking; " +
			"forcereinstall always acts.",
		Example: `- name: The exporter's dependencies, in their own virtualenv (Debian 12 refuses system-wide pip)
  ansible.builtin.pip:
    name: [requests>=2.28, "prometheus-client==0.17.*"]
    virtualenv: /opt/exporter/venv
    virtualenv_command: python3 -m venv`,
		New: func() modules.Module { return &Pip{} },
	})
}

// Pip is ansible.builtin.pip. The pip command, the virtualenv creation and
// the check of installed packages are Ansible's; the check is also
// truthful where Ansible only guesses (see CheckMode).
type Pip struct {
	Name                   []string `yaml:"name" doc:"packages: NAME, NAME[extras]SPECIFIERS (requests>=2.28,<3), a URL or path; a list or a comma-separated string"`
	Version                string   `yaml:"version" doc:"the version of the one package in name (1.2.3, or a specifier such as >=1.2)"`
	Requirements           string   `yaml:"requirements" doc:"a requirements file on the host (relative to chdir)"`
	State                  string   `yaml:"state" default:"present" choices:"present,absent,latest,forcereinstall" doc:"present installs what is missing or does not meet its specifier; latest upgrades; forcereinstall reinstalls on every run"`
	Virtualenv             string   `yaml:"virtualenv" doc:"the virtualenv to install into, created (with virtualenv_command) when it has no bin/activate"`
	VirtualenvSitePackages bool     `yaml:"virtualenv_site_packages" doc:"give a new virtualenv the system's site-packages (--system-site-packages)"`
	VirtualenvCommand      string   `yaml:"virtualenv_command" default:"virtualenv" doc:"the command that creates the virtualenv: virtualenv, or \"python3 -m venv\" (on Debian 12 needs python3-venv)"`
	VirtualenvPython       string   `yaml:"virtualenv_python" doc:"the Python of a new virtualenv (-p; not with python3 -m venv)"`
	ExtraArgs              string   `yaml:"extra_args" doc:"more pip install/uninstall arguments (--no-index --find-links=/srv/wheels)"`
	Editable               bool     `yaml:"editable" doc:"install in editable mode (-e)"`
	Chdir                  string   `yaml:"chdir" doc:"the directory pip runs in (default /tmp); a relative virtualenv is under it"`
	Executable             string   `yaml:"executable" doc:"the pip to run (pip3.11, /usr/local/bin/pip); not with virtualenv"`
	Umask                  string   `yaml:"umask" doc:"umask for pip, octal (0022)"`

	pkgs    []pipPackage
	env     string
	stdout  string
	stderr  string
	cmdLine string
}

// pipPackage is one requested package; plain ones (a name and version
// specifiers) can be checked against pip's list.
type pipPackage struct {
	spec  string // as given to pip
	name  string // canonical name; "" when not plain
	specs []pySpec
}

var pipReqRE = regexp.MustCompile(`^\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(\[[^\]]*\])?\s*([<>=!~][^;]*)?$`)

func canonicalPyName(n string) string {
	return strings.ToLower(regexp.MustCompile(`[-_.]+`).ReplaceAllString(n, "-"))
}

func parsePipPackage(s string) pipPackage {
	p := pipPackage{spec: s}
	m := pipReqRE.FindStringSubmatch(s)
	if m == nil {
		return p
	}
	specs, err := parsePySpecs(m[3])
	if err != nil {
		return p
	}
	p.name, p.specs = canonicalPyName(m[1]), specs
	return p
}

// recoverPipNames is Ansible's _recover_package_name: a comma-separated
// string was split into a list, so version clauses are joined back to the
// name before them ("django>1.11", "<2" is one package).
func recoverPipNames(names []string) []string {
	var parts, out []string
	inBrackets := false
	for _, one := range names {
		for _, n := range strings.Split(one, ",") {
			t := strings.TrimLeft(n, " ")
			isName := t == "" || !strings.ContainsAny(t[:1], "<>=!~")
			if isName && !inBrackets && len(parts) > 0 {
				out = append(out, strings.Join(parts, ","))
				parts = nil
			}
			if strings.Contains(n, "[") {
				inBrackets = true
			}
			if inBrackets && strings.Contains(n, "]") {
				inBrackets = false
			}
			parts = append(parts, n)
		}
	}
	return append(out, strings.Join(parts, ","))
}

func (m *Pip) Validate() error {
	switch {
	case len(m.Name) == 0 && m.Requirements == "":
		return errors.New("one of the following is required: name, requirements")
	case len(m.Name) > 0 && m.Requirements != "":
		return errors.New("parameters are mutually exclusive: name|requirements")
	case m.Executable != "" && m.Virtualenv != "":
		return errors.New("parameters are mutually exclusive: executable|virtualenv")
	case m.State == "latest" && m.Version != "":
		return errors.New("version is incompatible with state=latest")
	case m.VirtualenvPython != "" && (strings.Contains(m.VirtualenvCommand, "pyvenv") || strings.Contains(m.VirtualenvCommand, "-m venv")):
		return errors.New("virtualenv_python should not be used when using the venv module or pyvenv as virtualenv_command")
	}
	if m.Umask != "" {
		if _, err := strconv.ParseUint(m.Umask, 8, 32); err != nil {
			return fmt.Errorf("umask must be an octal integer: %q", m.Umask)
		}
	}
	if _, err := splitArgs(m.VirtualenvCommand); err != nil || strings.TrimSpace(m.VirtualenvCommand) == "" {
		return fmt.Errorf("virtualenv_command %q: not a command", m.VirtualenvCommand)
	}
	if _, err := splitArgs(m.ExtraArgs); err != nil {
		return fmt.Errorf("extra_args: %w", err)
	}
	m.pkgs = nil
	if len(m.Name) > 0 {
		for _, n := range recoverPipNames(m.Name) {
			m.pkgs = append(m.pkgs, parsePipPackage(n))
		}
	}
	if m.Version != "" {
		if len(m.pkgs) > 1 {
			return errors.New("'version' argument is ambiguous when installing multiple package distributions. " +
				"Please specify version restrictions next to each package in 'name' argument.")
		}
		if len(m.pkgs[0].specs) > 0 {
			return errors.New("the 'version' argument conflicts with any version specifier provided along with a package name. " +
				"Please keep the version specifier, but remove the 'version' argument.")
		}
		v := strings.TrimSpace(m.Version)
		sep := " "
		if v != "" && v[0] >= '0' && v[0] <= '9' {
			sep = "=="
		}
		m.pkgs[0] = parsePipPackage(m.pkgs[0].spec + sep + v)
	}
	m.env = m.Virtualenv
	if m.env != "" && m.Chdir != "" && !path.IsAbs(m.env) {
		m.env = path.Join(m.Chdir, m.env)
	}
	return nil
}

func (m *Pip) Unverified() bool { return m.State == "forcereinstall" }

func (m *Pip) Result() map[string]any {
	return map[string]any{"cmd": m.cmdLine, "name": m.Name, "version": nilIfEmpty(m.Version), "state": m.State,
		"requirements": nilIfEmpty(m.Requirements), "virtualenv": nilIfEmpty(m.env), "stdout": m.stdout, "stderr": m.stderr}
}

// pipPlan is what Apply runs.
type pipPlan struct {
	createEnv bool
	pip       string // the pip command line, quoted
}

// pipProbeScript finds the virtualenv and the pip to run, and lists the
// installed packages: the first line says "novenv" or the pip command.
func (m *Pip) probeScript() string {
	var b strings.Builder
	b.WriteString("export LC_ALL=C.UTF-8 LANG=C.UTF-8 PIP_DISABLE_PIP_VERSION_CHECK=1\n")
	switch {
	case m.env != "":
		fmt.Fprintf(&b, "[ -f %[1]s/bin/activate ] || { echo novenv; exit 0; }\n"+
			"for p in %[1]s/bin/pip3 %[1]s/bin/pip; do [ -x \"$p\" ] && pip=$p && break; done\n"+
			"[ -n \"$pip\" ] || { echo 'Unable to find pip in the virtualenv, %[2]s, under any of these names: pip3, pip. Make sure pip is present in the virtualenv.' >&2; exit 2; }\n",
			conn.Quote(m.env), m.env)
	case m.Executable != "" && path.IsAbs(m.Executable):
		fmt.Fprintf(&b, "pip=%s\n", conn.Quote(m.Executable))
	case m.Executable != "":
		fmt.Fprintf(&b, "pip=$(command -v %[1]s) || { echo 'Unable to find any of %[2]s to use.  pip needs to be installed.' >&2; exit 2; }\n",
			conn.Quote(m.Executable), m.Executable)
	default:
		b.WriteString("if python3 -c 'import pip' 2>/dev/null; then pip='python3 -m pip'; " +
			"else pip=$(command -v pip3) || { echo 'Unable to find any of pip3 to use.  pip needs to be installed.' >&2; exit 2; }; fi\n")
	}
	fmt.Fprintf(&b, "echo \"$pip\"\ncd %s || exit 2\n$pip list --format=freeze 2>/dev/null || $pip freeze\n", conn.Quote(m.chdir()))
	return b.String()
}

func (m *Pip) chdir() string {
	if m.Chdir != "" {
		return m.Chdir
	}
	return "/tmp"
}

// installed parses pip's freeze lines into canonical name → version.
func pipInstalled(out string) map[string]string {
	have := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if n, v, ok := strings.Cut(strings.TrimSpace(l), "=="); ok {
			have[canonicalPyName(n)] = v
		}
	}
	return have
}

func (m *Pip) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	var d plan.Diff
	r, err := h.Conn().Run(ctx, m.probeScript())
	if err != nil {
		return d, fmt.Errorf("pip: %w", err)
	}
	if !r.OK() {
		return d, fmt.Errorf("pip: %s", strings.TrimSpace(r.Stderr+"\n"+r.Stdout))
	}
	first, list, _ := strings.Cut(r.Stdout, "\n")
	p := &pipPlan{pip: first}
	if first == "novenv" {
		p.createEnv, p.pip = true, conn.Quote(m.env+"/bin/pip")
		d.Add(plan.Change{Resource: "virtualenv:" + m.env, Action: plan.Create, After: m.venvCommand()})
		if m.State != "absent" {
			for _, pk := range m.pkgs {
				d.Add(plan.Change{Resource: "pip:" + pk.spec, Action: plan.Create, Field: "installed"})
			}
			if m.Requirements != "" {
				d.Add(plan.Change{Resource: "pip:-r " + m.Requirements, Action: plan.Create, Field: "installed"})
			}
		}
		d.State = p
		return d, nil
	}
	m.stdout = list
	have := pipInstalled(list)
	switch {
	case m.State == "forcereinstall":
		d.Add(plan.Change{Resource: "pip:" + strings.Join(m.pipArgs(), " "), Action: plan.Run, Field: "reinstall"})
	case m.State == "absent":
		for _, pk := range m.pkgs {
			if v, ok := have[pk.name]; ok && pk.name != "" && pySatisfied(pk.specs, v) {
				d.Add(plan.Change{Resource: "pip:" + pk.name, Action: plan.Delete, Field: "installed", Before: v})
			}
		}
	case m.needsDryRun():
		if err := m.dryRun(ctx, h, p, have, &d); err != nil {
			return d, err
		}
	default:
		for _, pk := range m.pkgs {
			v, ok := have[pk.name]
			switch {
			case !ok:
				d.Add(plan.Change{Resource: "pip:" + pk.name, Action: plan.Create, Field: "installed", After: pk.spec})
			case !pySatisfied(pk.specs, v):
				d.Add(plan.Change{Resource: "pip:" + pk.name, Action: plan.Update, Field: "installed", Before: v, After: pk.spec})
			}
		}
	}
	if !d.Empty() {
		d.State = p
	}
	return d, nil
}

// needsDryRun: what pip's list cannot answer, pip answers itself.
func (m *Pip) needsDryRun() bool {
	if m.State == "latest" || m.Requirements != "" || m.ExtraArgs != "" || m.Editable {
		return true
	}
	for _, pk := range m.pkgs {
		if pk.name == "" {
			return true
		}
	}
	return false
}

var wouldInstall = regexp.MustCompile(`(?m)^Would install (.+)$`)

// dryRun asks `pip install --dry-run` (pip 22.2 and later) what it would
// install.
func (m *Pip) dryRun(ctx context.Context, h modules.Host, p *pipPlan, have map[string]string, d *plan.Diff) error {
	cmd := m.command(p.pip, true)
	r, err := h.Conn().Run(ctx, cmd)
	if err != nil {
		return fmt.Errorf("pip: %w", err)
	}
	if !r.OK() {
		if strings.Contains(r.Stderr, "--dry-run") {
			return modules.NotYet("pip: this pip cannot tell what it would install (no --dry-run: pip 22.2 or later has it)")
		}
		return fmt.Errorf("pip: %s: %s", cmd, strings.TrimSpace(r.Stdout+"\n"+r.Stderr))
	}
	mt := wouldInstall.FindStringSubmatch(r.Stdout)
	if mt == nil {
		return nil
	}
	for _, nv := range strings.Fields(mt[1]) {
		i := strings.LastIndexByte(nv, '-')
		if i < 0 {
			continue
		}
		name, ver := canonicalPyName(nv[:i]), nv[i+1:]
		if old, ok := have[name]; ok {
			d.Add(plan.Change{Resource: "pip:" + name, Action: plan.Update, Field: "installed", Before: old, After: ver})
		} else {
			d.Add(plan.Change{Resource: "pip:" + name, Action: plan.Create, Field: "installed", After: ver})
		}
	}
	return nil
}

func (m *Pip) venvCommand() string {
	args, _ := splitArgs(m.VirtualenvCommand)
	if m.VirtualenvSitePackages {
		args = append(args, "--system-site-packages")
	}
	if !strings.Contains(m.VirtualenvCommand, "pyvenv") && !strings.Contains(m.VirtualenvCommand, "-m venv") {
		py := m.VirtualenvPython
		if py == "" {
			py = "python3"
		}
		args = append(args, "-p"+py)
	}
	return conn.Join(append(args, m.env)...)
}

// pipArgs are the arguments after pip's subcommand: extra_args, then the
// packages or the requirements file.
func (m *Pip) pipArgs() []string {
	extra, _ := splitArgs(m.ExtraArgs)
	if m.Editable && !contains(extra, "-e") {
		extra = append(extra, "-e")
	}
	for _, pk := range m.pkgs {
		extra = append(extra, pk.spec)
	}
	if m.Requirements != "" {
		extra = append(extra, "-r", m.Requirements)
	}
	return extra
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// command is the pip run, in chdir with the virtualenv's bin first in PATH.
func (m *Pip) command(pip string, dryRun bool) string {
	sub := map[string][]string{"present": {"install"}, "absent": {"uninstall", "-y"}, "latest": {"install", "-U"},
		"forcereinstall": {"install", "-U", "--force-reinstall"}}[m.State]
	if dryRun {
		sub = append(sub, "--dry-run")
	}
	var b strings.Builder
	b.WriteString("export LC_ALL=C.UTF-8 LANG=C.UTF-8 PIP_DISABLE_PIP_VERSION_CHECK=1; ")
	if m.env != "" {
		fmt.Fprintf(&b, "PATH=%s/bin:$PATH; ", conn.Quote(m.env))
	}
	if m.Umask != "" {
		fmt.Fprintf(&b, "umask %s; ", m.Umask)
	}
	fmt.Fprintf(&b, "cd %s && %s %s", conn.Quote(m.chdir()), pip, conn.Join(append(sub, m.pipArgs()...)...))
	return b.String()
}

func (m *Pip) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	p, err := modules.StateOf[*pipPlan](h, "pip", d)
	if err != nil {
		return err
	}
	if p.createEnv {
		cmd := fmt.Sprintf("cd %s && %s", conn.Quote(m.chdir()), m.venvCommand())
		r, err := h.Conn().Run(ctx, cmd)
		if err != nil {
			return fmt.Errorf("pip: create virtualenv %s: %w", m.env, err)
		}
		if !r.OK() {
			return fmt.Errorf("pip: create virtualenv %s: %s: %s", m.env, cmd, strings.TrimSpace(r.Stdout+"\n"+r.Stderr))
		}
		m.stdout = r.Stdout
		if m.State == "absent" {
			return nil
		}
		if p.pip, err = m.venvPip(ctx, h); err != nil {
			return err
		}
	}
	cmd := m.command(p.pip, false)
	m.cmdLine = cmd
	r, err := h.Conn().Run(ctx, cmd)
	if err != nil {
		return fmt.Errorf("pip: %w", err)
	}
	m.stdout, m.stderr = m.stdout+r.Stdout, r.Stderr
	if !r.OK() && !(m.State == "absent" && r.ExitCode == 1 && strings.Contains(r.Stdout+r.Stderr, "not installed")) {
		return fmt.Errorf("pip: %s failed (rc %d): %s", cmd, r.ExitCode, strings.TrimSpace(r.Stdout+"\n"+r.Stderr))
	}
	return nil
}

// venvPip is the pip of a virtualenv just created.
func (m *Pip) venvPip(ctx context.Context, h modules.Host) (string, error) {
	for _, n := range []string{"pip3", "pip"} {
		p := m.env + "/bin/" + n
		if ok, err := exists(ctx, h, p); err != nil {
			return "", err
		} else if ok {
			return conn.Quote(p), nil
		}
	}
	return "", fmt.Errorf("pip: unable to find pip in the virtualenv, %s, under any of these names: pip3, pip. Make sure pip is present in the virtualenv", m.env)
}

var (
	_ modules.Module     = (*Pip)(nil)
	_ modules.Resulter   = (*Pip)(nil)
	_ modules.Unverified = (*Pip)(nil)
)
