package nvidia

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/internal/apt"
	"github.com/gpuctl/gpuctl/modules/internal/fileplan"
	"github.com/gpuctl/gpuctl/modules/node"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:      "nvidia_container_toolkit",
		Summary:   "install NVIDIA Container Toolkit (NVIDIA's apt repository, or its binaries on air-gapped hosts) and configure containerd's nvidia runtime",
		CheckMode: "fetches the signing key (read-only), compares repository files, package versions and containerd's config; changes nothing",
		Example: `- name: containerd can hand GPUs to pods
  nvidia_container_toolkit:
    version: 1.18.0-1
    default_runtime: true`,
		New: func() modules.Module { return &Toolkit{} },
	})
}

// Defaults: NVIDIA's stable repository and signing key.
const (
	DefaultToolkitRepo = "https://nvidia.github.io/libnvidia-container/stable/deb/$(ARCH)"
	DefaultToolkitKey  = "https://nvidia.github.io/libnvidia-container/gpgkey"
)

// toolkitPackages are pinned together, as NVIDIA's install guide does: a
// newer library under an older CLI is not a tested combination.
var toolkitPackages = []string{"nvidia-container-toolkit", "nvidia-container-toolkit-base", "libnvidia-container-tools", "libnvidia-container1"}

// Toolkit installs nvidia-container-toolkit and points containerd at it.
type Toolkit struct {
	Version        string        `yaml:"version" default:"1.18.0-1" doc:"toolkit package version to pin (all four packages); with source: binaries, the version the binaries must carry"`
	Source         string        `yaml:"source" default:"apt" choices:"apt,binaries" doc:"apt installs NVIDIA's packages from its repository; binaries copies nvidia-container-runtime, nvidia-cdi-hook and nvidia-ctk (1.18 or later: the runtime injects GPUs through CDI itself) from binaries_dir on the machine gpuctl runs on into /usr/bin, for air-gapped hosts"`
	BinariesDir    string        `yaml:"binaries_dir" doc:"with source: binaries, the directory on the controller holding the toolkit's binaries"`
	RepoURL        string        `yaml:"repo_url" default:"https://nvidia.github.io/libnvidia-container/stable/deb/$(ARCH)" doc:"apt repository (flat, suite /); apt replaces $(ARCH)"`
	KeyURL         string        `yaml:"key_url" default:"https://nvidia.github.io/libnvidia-container/gpgkey" doc:"ASCII-armoured signing key, fetched by the host"`
	Key            string        `yaml:"key" doc:"the ASCII-armoured signing key itself, for hosts that cannot fetch key_url"`
	Keyring        string        `yaml:"keyring" default:"/etc/apt/keyrings/nvidia-container-toolkit.asc" doc:"where the key is written (signed-by)"`
	SourcesFile    string        `yaml:"sources_file" default:"/etc/apt/sources.list.d/nvidia-container-toolkit.list" doc:"apt source list file"`
	AptOptions     []string      `yaml:"apt_options" doc:"extra -o options for apt-get (private apt directories in tests)"`
	LockTimeout    time.Duration `yaml:"lock_timeout" doc:"how long to wait while another process (unattended-upgrades) holds the dpkg lock (default 5m)"`
	ManageRepo     bool          `yaml:"manage_repo" default:"true" doc:"write the repository and key; false when a mirror is configured elsewhere"`
	Install        bool          `yaml:"install" default:"true" doc:"install the pinned packages"`
	Hold           bool          `yaml:"hold" default:"true" doc:"apt-mark hold the packages so upgrades keep the pinned version"`
	Containerd     bool          `yaml:"configure_containerd" default:"true" doc:"add the nvidia runtime to containerd"`
	DefaultRuntime bool          `yaml:"default_runtime" doc:"make nvidia containerd's default runtime (the device plugin then needs no runtimeClassName)"`
	Config         string        `yaml:"containerd_config" default:"/etc/containerd/config.toml" doc:"containerd's main config (the containerd module's config_path)"`
	DropinDir      string        `yaml:"dropin_dir" default:"/etc/containerd/conf.d" doc:"drop-in directory (the containerd module's drop_in_dir): a main config importing it gets the runtime as a drop-in there; otherwise used for containerd 2.x"`
	Restart        bool          `yaml:"restart" default:"true" doc:"restart containerd when its config changed, and wait for it"`
	WhenNoGPU      string        `yaml:"when_no_gpu" default:"skip" choices:"skip,fail,install" doc:"what to do on a host without an NVIDIA GPU"`

	skip string
}

var (
	_ modules.Module  = (*Toolkit)(nil)
	_ modules.Skipper = (*Toolkit)(nil)
)

func (m *Toolkit) Validate() error {
	if (m.Install || m.Source == "binaries") && m.Version == "" {
		return errors.New("version is required to pin the toolkit")
	}
	if strings.ContainsAny(m.Version, " '\"\n") {
		return fmt.Errorf("version %q is not a package version", m.Version)
	}
	if (m.Source == "binaries") != (m.BinariesDir != "") {
		return errors.New("source: binaries and binaries_dir go together")
	}
	if m.ManageRepo && m.Source == "apt" {
		u, err := url.Parse(m.RepoURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http" && u.Scheme != "file") {
			return fmt.Errorf("repo_url %q: want an http(s) or file URL", m.RepoURL)
		}
		if m.Key == "" && m.KeyURL == "" {
			return errors.New("set key or key_url: apt refuses an unsigned repository")
		}
		if m.Key != "" && !isArmored(m.Key) {
			return errors.New("key must be an ASCII-armoured PGP public key (-----BEGIN PGP PUBLIC KEY BLOCK-----)")
		}
	}
	for _, p := range []string{m.Keyring, m.SourcesFile, m.Config, m.DropinDir} {
		if !path.IsAbs(p) {
			return fmt.Errorf("path %q must be absolute", p)
		}
	}
	return nil
}

func isArmored(k string) bool {
	return strings.Contains(k, "-----BEGIN PGP PUBLIC KEY BLOCK-----")
}

// toolkitPlan carries Check's findings to Apply.
type toolkitPlan struct {
	repo          []*fileEdit
	binaries      *fileplan.Blobs
	binaryChanges plan.Diff
	packages      []string          // pkg=version
	installed     map[string]string // pkg -> installed version
	hold          []string
	containerd    []*fileEdit
	// dumpVersion is the config version `containerd config dump` prints:
	// 2.x migrates whatever it reads to version 3.
	dumpVersion int
}

func (m *Toolkit) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	var d plan.Diff
	m.skip = ""
	c := h.Conn()
	if m.WhenNoGPU != "install" {
		f, err := Gather(ctx, c)
		if err != nil {
			return d, fmt.Errorf("%s: %w", h.Name(), err)
		}
		if !f.Present() {
			if m.WhenNoGPU == "fail" {
				return d, noGPU(h)
			}
			m.skip = ErrNoGPU.Error()
			return d, nil
		}
	}
	p := &toolkitPlan{}
	// With binaries there is no repository, no package and nothing to hold.
	fromApt := m.Source == "apt"
	if fromApt && m.ManageRepo {
		if err := m.checkRepo(ctx, h, p); err != nil {
			return d, err
		}
	}
	if fromApt && m.Install {
		if err := m.checkPackages(ctx, h, p); err != nil {
			return d, err
		}
	}
	if !fromApt {
		if err := m.checkBinaries(ctx, h, p); err != nil {
			return d, err
		}
	}
	for _, e := range p.repo {
		e.addTo(&d)
	}
	d.Merge(p.binaryChanges)
	for _, pv := range p.packages {
		name, ver, _ := strings.Cut(pv, "=")
		c := plan.Change{Resource: "package:" + name, Action: plan.Update, Field: "version", Before: p.installed[name], After: ver}
		if c.Before == "" {
			c.Action, c.Before = plan.Create, "absent"
		}
		d.Add(c)
	}
	for _, name := range p.hold {
		d.Add(plan.Change{Resource: "package:" + name, Action: plan.Update, Field: "hold", Before: "no", After: "yes"})
	}
	if m.Containerd {
		unknown, err := m.checkContainerd(ctx, h, p)
		if err != nil {
			return d, err
		}
		if unknown != "" {
			d.Unknown = unknown
		}
		for _, e := range p.containerd {
			e.addTo(&d)
		}
		if len(p.containerd) > 0 && m.Restart {
			d.Add(plan.Change{Resource: "service:containerd", Action: plan.Run, Field: "restart"})
		}
	}
	d.State = p
	return d, nil
}

func (m *Toolkit) checkRepo(ctx context.Context, h modules.Host, p *toolkitPlan) error {
	key := m.Key
	if key == "" {
		// Fetched by the host, which is the machine that needs to reach the
		// repository anyway; reading it changes nothing.
		out, err := conn.Output(ctx, h.Conn(), "curl -fsSL --max-time 30 "+conn.Quote(m.KeyURL)+" || wget -qO- --timeout=30 "+conn.Quote(m.KeyURL))
		if err != nil {
			return fmt.Errorf("%s: fetch the toolkit's signing key from %s: %w (set key: to the key's text for hosts without access)", h.Name(), m.KeyURL, err)
		}
		key = out
	}
	if !isArmored(key) {
		return fmt.Errorf("%s: %s did not return an ASCII-armoured PGP key", h.Name(), m.KeyURL)
	}
	key = strings.TrimSpace(key) + "\n"
	src := fmt.Sprintf("# Managed by gpuctl (nvidia_container_toolkit).\ndeb [signed-by=%s] %s /\n", m.Keyring, m.RepoURL)
	for _, want := range []struct{ path, content string }{{m.Keyring, key}, {m.SourcesFile, src}} {
		e, err := diffFile(ctx, h.Conn(), want.path, want.content)
		if err != nil {
			return fmt.Errorf("%s: %w", h.Name(), err)
		}
		if e != nil {
			p.repo = append(p.repo, e)
		}
	}
	return nil
}

func (m *Toolkit) checkPackages(ctx context.Context, h modules.Host, p *toolkitPlan) error {
	st, err := packageStates(ctx, h.Conn(), toolkitPackages)
	if err != nil {
		return fmt.Errorf("%s: %w", h.Name(), err)
	}
	p.installed = map[string]string{}
	for _, pkg := range toolkitPackages {
		s := st[pkg]
		p.installed[pkg] = s.version
		if s.version != m.Version {
			p.packages = append(p.packages, pkg+"="+m.Version)
		}
		if m.Hold && !s.held {
			p.hold = append(p.hold, pkg)
		}
	}
	return nil
}

// checkContainerd decides between drop-in and main config and computes the
// file edits. It returns a reason when the outcome depends on an earlier
// task (containerd not installed yet in check mode).
func (m *Toolkit) checkContainerd(ctx context.Context, h modules.Host, p *toolkitPlan) (string, error) {
	r, err := h.Conn().Run(ctx, "containerd --version")
	if err != nil {
		return "", fmt.Errorf("%s: containerd --version: %w", h.Name(), err)
	}
	major, _, ok := parseContainerdVersion(r.Stdout)
	if !r.OK() || !ok {
		return "", modules.NotYet("%s: containerd is not installed (containerd --version: %s): run the containerd module first; its nvidia runtime is known after apply", h.Name(), firstLine(r.Stdout+r.Stderr))
	}
	main, exists, err := readIfExists(ctx, h.Conn(), m.Config)
	if err != nil {
		return "", fmt.Errorf("%s: %w", h.Name(), err)
	}
	v := configVersion(main)
	if exists && strings.TrimSpace(main) != "" && v < 2 {
		return "", fmt.Errorf("%s: %s has config version %d: convert it to version 2 or later first (containerd config default > %s)", h.Name(), m.Config, v, m.Config)
	}
	// A config written by gpuctl's containerd module imports its drop-in
	// folder (drop_in_dir, here dropin_dir) and is owned by that module:
	// editing it here would make the two modules undo each other, so its
	// drop-in helper is used, with the same paths.
	if importsCover(main, path.Join(m.DropinDir, "99-nvidia.toml")) {
		file, content, err := node.ContainerdRuntimeDropIn(ctx, h.Conn(), m.Config, m.DropinDir, node.ContainerdRuntime{Name: "nvidia", BinaryName: NVIDIARuntimeBinary, Default: m.DefaultRuntime})
		if err != nil {
			return "", fmt.Errorf("%s: %w", h.Name(), err)
		}
		p.dumpVersion = dumpVersionOf(major)
		e, err := diffFile(ctx, h.Conn(), file, string(content))
		if err != nil {
			return "", fmt.Errorf("%s: %w", h.Name(), err)
		}
		if e != nil {
			p.containerd = append(p.containerd, e)
		}
		return "", nil
	}
	var wantMain string
	if major >= 2 {
		if v == 0 {
			v = 3
			main = "version = 3\n" + main
		}
		dropin := path.Join(m.DropinDir, "99-nvidia.toml")
		e, err := diffFile(ctx, h.Conn(), dropin, dropinConfig(v, m.DefaultRuntime))
		if err != nil {
			return "", fmt.Errorf("%s: %w", h.Name(), err)
		}
		if e != nil {
			p.containerd = append(p.containerd, e)
		}
		wantMain = addImport(main, path.Join(m.DropinDir, "*.toml"))
	} else {
		v = 2
		wantMain = editMainConfig(main, m.DefaultRuntime)
	}
	p.dumpVersion = dumpVersionOf(major)
	e, err := diffFile(ctx, h.Conn(), m.Config, wantMain)
	if err != nil {
		return "", fmt.Errorf("%s: %w", h.Name(), err)
	}
	if e != nil {
		p.containerd = append(p.containerd, e)
	}
	return "", nil
}

func (m *Toolkit) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	p, err := modules.StateOf[*toolkitPlan](h, "nvidia_container_toolkit", d)
	if err != nil {
		return err
	}
	for _, e := range p.repo {
		if err := e.Write(ctx, h); err != nil {
			return err
		}
	}
	runner := apt.NewRunner(h.Conn(), h.Log(), m.LockTimeout)
	opts := ""
	for _, o := range m.AptOptions {
		opts += " -o " + conn.Quote(o)
	}
	if len(p.repo) > 0 || len(p.packages) > 0 {
		// Only NVIDIA's list: faster, and a broken third-party source
		// elsewhere on the host does not fail this task.
		src := ""
		if m.ManageRepo {
			src = " -o Dir::Etc::sourcelist=" + conn.Quote(m.SourcesFile) + " -o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0"
		}
		if _, err := runner.Must(ctx, "apt-get"+opts+src+" update"); err != nil {
			return fmt.Errorf("%s: apt-get update for the toolkit repository %s: %w", h.Name(), m.RepoURL, err)
		}
	}
	if len(p.packages) > 0 {
		if _, err := runner.Must(ctx, "apt-get"+opts+" install -y --no-install-recommends --allow-downgrades --allow-change-held-packages "+conn.Join(p.packages...)); err != nil {
			return fmt.Errorf("%s: install nvidia-container-toolkit %s: %w", h.Name(), m.Version, err)
		}
	}
	if len(p.hold) > 0 {
		if _, err := runner.Must(ctx, "apt-mark hold "+conn.Join(p.hold...)); err != nil {
			return fmt.Errorf("%s: hold the toolkit's packages: %w", h.Name(), err)
		}
	}
	if err := m.applyBinaries(ctx, h, p); err != nil {
		return err
	}
	if len(p.containerd) > 0 {
		if err := m.applyContainerd(ctx, h, p); err != nil {
			return err
		}
	}
	return nil
}

// applyContainerd writes the config, proves containerd accepts it before
// restarting (restoring the old files when not), then restarts and waits.
func (m *Toolkit) applyContainerd(ctx context.Context, h modules.Host, p *toolkitPlan) error {
	for _, e := range p.containerd {
		if err := e.Write(ctx, h); err != nil {
			return err
		}
	}
	dump, err := run(ctx, h, "containerd --config "+conn.Quote(m.Config)+" config dump")
	if err == nil {
		err = verifyDump(dump, p.dumpVersion, m.DefaultRuntime)
	}
	if err != nil {
		for _, e := range p.containerd {
			if rerr := e.Restore(ctx, h.Conn()); rerr != nil {
				h.Log().Error("restore containerd config", "path", e.Path, "err", rerr)
			}
		}
		return fmt.Errorf("%s: containerd rejected the nvidia runtime config (old config restored): %w", h.Name(), err)
	}
	if !m.Restart {
		return nil
	}
	r, err := h.Conn().Run(ctx, "systemctl is-active --quiet containerd")
	if err != nil {
		return fmt.Errorf("%s: %w", h.Name(), err)
	}
	if !r.OK() {
		h.Log().Info("containerd is not running; its new config applies when it starts")
		return nil
	}
	// The containerd module's restart waits for the CRI plugin, not only
	// the process, which is what the kubelet needs.
	if err := node.RestartContainerdIfChanged(ctx, h.Conn(), true); err != nil {
		return fmt.Errorf("%s: %w", h.Name(), err)
	}
	return nil
}

func dumpVersionOf(major int) int {
	if major >= 2 {
		return 3
	}
	return 2
}

func (m *Toolkit) Skip() string { return m.skip }
