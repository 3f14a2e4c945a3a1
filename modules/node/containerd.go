package node

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:      "containerd",
		Summary:   "Install and configure containerd for Kubernetes (systemd cgroups, CRI on, kubeadm's pause image)",
		CheckMode: "Simulates the package install, derives the configuration from the installed `containerd config default` and diffs it against config.toml and the drop-ins; when containerd is not installed yet the configuration is known after apply. Changes nothing.",
		Example: `- name: containerd from the distribution
  containerd:
    sandbox_image: registry.k8s.io/pause:3.10.1
- name: containerd.io from Docker's repository
  containerd:
    source: docker`,
		New: func() modules.Module { return &Containerd{} },
	})
}

// Containerd installs containerd and writes /etc/containerd/config.toml
// derived from the installed version's `containerd config default`, so every
// default of that version is kept and only what Kubernetes needs changes.
// Extra runtimes go into drop-ins under conf.d where containerd merges them
// key by key (2.x); containerd 1.x replaces whole plugin tables on import,
// so there they are written into config.toml itself.
type Containerd struct {
	Source          string              `yaml:"source" default:"distro" choices:"distro,docker" doc:"distro installs the distribution's containerd package; docker adds Docker's repository and installs containerd.io"`
	Version         string              `yaml:"version" doc:"package version to pin (a glob such as 1.7.* is allowed); empty takes the candidate"`
	SandboxImage    string              `yaml:"sandbox_image" default:"registry.k8s.io/pause:3.10.1" doc:"pause image; must match what kubeadm expects for the Kubernetes version"`
	SystemdCgroup   bool                `yaml:"systemd_cgroup" default:"true" doc:"runc uses the systemd cgroup driver, as the kubelet does with cgroupDriver: systemd"`
	ConfigPath      string              `yaml:"config_path" default:"/etc/containerd/config.toml" doc:"main configuration file"`
	DropInDir       string              `yaml:"drop_in_dir" default:"/etc/containerd/conf.d" doc:"directory imported by config.toml (imports = [DIR/*.toml]) for other tools' drop-ins"`
	Runtimes        []ContainerdRuntime `yaml:"runtimes" doc:"extra runtime handlers: list of {name, binary, type, default, systemd_cgroup}"`
	ConfigOverrides map[string]any      `yaml:"config_overrides" doc:"tables merged last into config.toml, e.g. {plugins: {io.containerd.grpc.v1.cri: {restrict_oom_score_adj: true}}}"`
	RepoURL         string              `yaml:"repo_url" doc:"with source: docker, the repository (default https://download.docker.com/linux/ID)"`
	KeyURL          string              `yaml:"key_url" doc:"with source: docker, its signing key (default REPO_URL/gpg)"`
	Verify          bool                `yaml:"verify" default:"true" doc:"after a restart, wait until containerd and its CRI plugin answer"`
	RestartTimeout  time.Duration       `yaml:"restart_timeout" doc:"how long verify waits (default 60s)"`
	LockTimeout     time.Duration       `yaml:"lock_timeout" doc:"how long to wait for the dpkg lock (default 5m)"`
}

func (c *Containerd) Validate() error {
	if c.SandboxImage == "" || strings.ContainsAny(c.SandboxImage, " \t\n") {
		return fmt.Errorf("sandbox_image %q: expected an image reference", c.SandboxImage)
	}
	if !path.IsAbs(c.ConfigPath) || !path.IsAbs(c.DropInDir) {
		return errors.New("config_path and drop_in_dir must be absolute paths")
	}
	if c.Version != "" {
		if err := validateSpecs([]string{containerdPackage(c.Source) + "=" + c.Version}); err != nil {
			return err
		}
	}
	if c.Source != "docker" && (c.RepoURL != "" || c.KeyURL != "") {
		return errors.New("repo_url and key_url only apply to source: docker")
	}
	defaults := 0
	seen := map[string]bool{}
	for _, r := range c.Runtimes {
		if err := r.validate(); err != nil {
			return err
		}
		if seen[r.Name] {
			return fmt.Errorf("runtime %s listed twice", r.Name)
		}
		seen[r.Name] = true
		if r.Default {
			defaults++
		}
	}
	if defaults > 1 {
		return errors.New("only one runtime can be the default")
	}
	return nil
}

// containerdState carries Check's findings to Apply.
type containerdState struct {
	pkgs    *steps // repository and package
	config  *steps // files; recomputed in Apply when packages change
	service *steps
}

func (c *Containerd) settings() ctrdSettings {
	return ctrdSettings{SandboxImage: c.SandboxImage, SystemdCgroup: c.SystemdCgroup, DropInDir: c.DropInDir, Overrides: c.ConfigOverrides}
}

func (c *Containerd) planPackages(ctx context.Context, h modules.Host) (*steps, string, error) {
	s := &steps{}
	changedRepo := false
	if c.Source == "docker" {
		d, err := readDistro(ctx, h.Conn())
		if err != nil {
			return nil, "", err
		}
		repo := AptSource{Name: "docker", URIs: []string{c.RepoURL}, Suites: []string{d.Codename}, Components: []string{"stable"}, KeyURL: c.KeyURL, RemoveDuplicates: true}
		if repo.URIs[0] == "" {
			repo.URIs[0] = d.dockerRepoURL()
		}
		if repo.KeyURL == "" {
			repo.KeyURL = strings.TrimSuffix(repo.URIs[0], "/") + "/gpg"
		}
		rs, err := repo.plan(ctx, h, true)
		if err != nil {
			return nil, "", err
		}
		changedRepo = !rs.empty()
		s.merge(rs)
	}
	spec := containerdPackage(c.Source)
	if c.Version != "" {
		spec += "=" + c.Version
	}
	ps, unknown, err := planPackages(ctx, h.Conn(), pkgRequest{Specs: []string{spec}, State: "present", ForceUpdate: changedRepo,
		LockTimeout: c.LockTimeout, Log: h.Log()})
	if err != nil {
		return nil, "", err
	}
	s.merge(ps)
	return s, unknown, nil
}

// planConfig diffs config.toml and the runtime drop-ins against what the
// installed containerd's defaults and the arguments give.
func (c *Containerd) planConfig(ctx context.Context, cn conn.Conn) (*steps, error) {
	s := &steps{}
	def, err := output(ctx, cn, "containerd config default")
	if err != nil {
		return nil, fmt.Errorf("containerd config default: %w", err)
	}
	set := c.settings()
	probe, err := parseDefaultConfig([]byte(def))
	if err != nil {
		return nil, err
	}
	if probe.version < 3 {
		set.Runtimes = c.Runtimes
	}
	main, _, err := buildContainerdConfig([]byte(def), set, managedHeader("containerd")+"# Derived from `containerd config default` of the installed version.\n")
	if err != nil {
		return nil, err
	}
	if err := fileStep(ctx, cn, s, c.ConfigPath, main, 0o644, false); err != nil {
		return nil, err
	}
	dir := c.DropInDir
	// Other tools (nvidia-ctk, the nvidia module) drop their files here.
	if ok, err := exists(ctx, cn, c.DropInDir); err != nil {
		return nil, err
	} else if !ok {
		s.add(plan.Change{Resource: "dir:" + c.DropInDir, Action: plan.Create},
			func(ctx context.Context, c conn.Conn) error { return sh(ctx, c, "mkdir -p "+conn.Quote(dir)) })
	}
	if probe.version >= 3 {
		for _, r := range c.Runtimes {
			drop, err := runtimeDropIn(main, r, managedHeader("containerd"))
			if err != nil {
				return nil, err
			}
			if err := fileStep(ctx, cn, s, runtimeDropInPath(c.DropInDir, r.Name), drop, 0o644, false); err != nil {
				return nil, err
			}
		}
	}
	return s, nil
}

// noteOverrides warns when drop-ins undo what config.toml sets: on
// containerd 1.x a drop-in holding part of the CRI table replaces all of it.
// The files belong to other tools, so this is a note, not a change.
func (c *Containerd) noteOverrides(ctx context.Context, cn conn.Conn, s *steps) {
	dump, err := output(ctx, cn, "timeout 5 containerd --config "+conn.Quote(c.ConfigPath)+" config dump")
	if err != nil {
		return
	}
	v, err := viewContainerdConfig([]byte(dump))
	if err != nil {
		return
	}
	if v.SystemdCgroup != c.SystemdCgroup || v.SandboxImage != c.SandboxImage || v.CRIDisabled {
		s.note("a drop-in in %s overrides config.toml (effective: SystemdCgroup=%t, sandbox image %q, CRI disabled=%t); on containerd 1.x a drop-in must repeat the whole CRI table (see node.ContainerdRuntimeDropIn)",
			c.DropInDir, v.SystemdCgroup, v.SandboxImage, v.CRIDisabled)
	}
}

func runtimeDropInPath(dir, name string) string { return dir + "/50-" + name + ".toml" }

func (c *Containerd) planService(ctx context.Context, cn conn.Conn) *steps {
	s := &steps{}
	if r, _ := cn.Run(ctx, "systemctl is-enabled containerd"); strings.TrimSpace(r.Stdout) != "enabled" {
		s.add(plan.Change{Resource: "service:containerd", Action: plan.Update, Field: "enabled", Before: strings.TrimSpace(r.Stdout), After: "enabled"},
			func(ctx context.Context, c conn.Conn) error { return sh(ctx, c, "systemctl enable containerd") })
	}
	if r, _ := cn.Run(ctx, "systemctl is-active containerd"); strings.TrimSpace(r.Stdout) != "active" {
		s.add(plan.Change{Resource: "service:containerd", Action: plan.Update, Field: "state", Before: strings.TrimSpace(r.Stdout), After: "active"},
			func(ctx context.Context, c conn.Conn) error { return sh(ctx, c, "systemctl start containerd") })
	}
	return s
}

func (c *Containerd) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	st := &containerdState{}
	var err error
	var unknown string
	if st.pkgs, unknown, err = c.planPackages(ctx, h); err != nil {
		return plan.Diff{}, err
	}
	all := &steps{}
	all.merge(st.pkgs)
	if _, err := output(ctx, h.Conn(), "command -v containerd"); err != nil {
		if unknown == "" {
			unknown = "containerd configuration: known after apply (containerd is not installed yet)"
		}
		// Listed so that later tasks reading it (preflight) know it changes.
		all.add(plan.Change{Resource: "file:" + c.ConfigPath, Action: plan.Create, Field: "content", After: "(derived from containerd config default after install)"}, nil)
	} else {
		if st.config, err = c.planConfig(ctx, h.Conn()); err != nil {
			return plan.Diff{}, err
		}
		all.merge(st.config)
		st.service = c.planService(ctx, h.Conn())
		all.merge(st.service)
		if st.config.empty() {
			c.noteOverrides(ctx, h.Conn(), all)
		}
		if !st.config.empty() || !st.pkgs.empty() {
			all.add(plan.Change{Resource: "service:containerd", Action: plan.Run, Field: "restart", After: "restart, then wait for the CRI endpoint"}, nil)
		}
	}
	d := all.diff()
	d.State = st
	d.Unknown = unknown
	return d, nil
}

func (c *Containerd) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	st, err := modules.StateOf[*containerdState](h, "containerd", d)
	if err != nil {
		return err
	}
	cn := h.Conn()
	if err := st.pkgs.run(ctx, cn); err != nil {
		return err
	}
	pkgChanged := !st.pkgs.empty() || d.Unknown != ""
	if pkgChanged {
		// The package may have been missing at check time or replaced by
		// another version with other defaults: derive everything again.
		ps, unknown, err := c.planPackages(ctx, h)
		if err != nil {
			return err
		}
		if unknown != "" {
			return errors.New(unknown)
		}
		if err := ps.run(ctx, cn); err != nil {
			return err
		}
		if st.config, err = c.planConfig(ctx, cn); err != nil {
			return err
		}
	}
	if err := st.config.run(ctx, cn); err != nil {
		return err
	}
	if err := c.planService(ctx, cn).run(ctx, cn); err != nil {
		return err
	}
	if !pkgChanged && st.config.empty() {
		return nil
	}
	if err := RestartContainerdIfChanged(ctx, cn, true); err != nil {
		return err
	}
	if c.Verify {
		return VerifyCRI(ctx, cn, durOr(c.RestartTimeout, time.Minute))
	}
	return nil
}

// ContainerdRuntimeDropIn returns the drop-in that adds rt to the
// containerd on the host behind c, and where to write it. configPath and
// dropInDir are the containerd module's config_path and drop_in_dir. It
// reads the managed config: for containerd 1.x the drop-in has to repeat
// its whole CRI table (imports replace plugin tables there), for 2.x only
// the runtime's table. Write the file with the usual file step, then call
// RestartContainerdIfChanged.
func ContainerdRuntimeDropIn(ctx context.Context, c conn.Conn, configPath, dropInDir string, rt ContainerdRuntime) (path string, content []byte, err error) {
	if err := rt.validate(); err != nil {
		return "", nil, err
	}
	main, ok, err := readFile(ctx, c, configPath)
	if err != nil {
		return "", nil, err
	}
	if !ok {
		return "", nil, fmt.Errorf("no %s: run the containerd module first", configPath)
	}
	if glob := dropInDir + "/*.toml"; !strings.Contains(string(main), glob) {
		return "", nil, fmt.Errorf("%s does not import %s: run the containerd module first", configPath, glob)
	}
	content, err = runtimeDropIn(main, rt, managedHeader("containerd runtime "+rt.Name))
	if err != nil {
		return "", nil, err
	}
	return runtimeDropInPath(dropInDir, rt.Name), content, nil
}

// RestartContainerdIfChanged restarts containerd when changed is true and
// waits until the CRI plugin answers; a restart that leaves CRI broken is an
// error naming what containerd logged.
func RestartContainerdIfChanged(ctx context.Context, c conn.Conn, changed bool) error {
	if !changed {
		return nil
	}
	if err := sh(ctx, c, "systemctl restart containerd"); err != nil {
		return fmt.Errorf("restart containerd: %w%s", err, journalTail(ctx, c, "containerd"))
	}
	return VerifyCRI(ctx, c, time.Minute)
}

// VerifyCRI waits until containerd answers and its CRI plugin is loaded
// (`ctr plugins ls`); with crictl installed, until the CRI endpoint itself
// answers a Version call.
func VerifyCRI(ctx context.Context, c conn.Conn, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		last = criAnswers(ctx, c)
		if last == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("containerd CRI not answering after %s: %w%s", timeout, last, journalTail(ctx, c, "containerd"))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func criAnswers(ctx context.Context, c conn.Conn) error {
	if err := sh(ctx, c, "ctr version"); err != nil {
		return err
	}
	out, err := output(ctx, c, "ctr plugins ls")
	if err != nil {
		return err
	}
	if st := criPluginStatus(out); st != "ok" {
		return fmt.Errorf("CRI plugin status %q (disabled in config.toml, or failed: see journalctl -u containerd)", st)
	}
	if _, err := output(ctx, c, "command -v crictl"); err == nil {
		if err := sh(ctx, c, "crictl --runtime-endpoint unix:///run/containerd/containerd.sock --timeout 5s version"); err != nil {
			return err
		}
	}
	return nil
}

// criPluginStatus finds the CRI plugin in `ctr plugins ls` (TYPE ID
// PLATFORMS STATUS); "missing" when it is not listed at all.
func criPluginStatus(out string) string {
	for _, l := range lines(out) {
		f := strings.Fields(l)
		if len(f) >= 3 && f[0] == "io.containerd.grpc.v1" && f[1] == "cri" {
			return f[len(f)-1]
		}
	}
	return "missing"
}

func journalTail(ctx context.Context, c conn.Conn, unit string) string {
	r, err := c.Run(ctx, "journalctl -u "+conn.Quote(unit)+" -n 15 --no-pager 2>/dev/null")
	if err != nil || strings.TrimSpace(r.Stdout) == "" {
		return ""
	}
	return "\n" + r.Stdout
}

var _ modules.Module = (*Containerd)(nil)
