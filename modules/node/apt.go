package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:      "apt",
		Summary:   "Install, upgrade, remove and hold Debian packages; refresh the apt cache",
		CheckMode: "Simulates with `apt-get -s` and reports the exact packages and versions that would be installed, upgraded or removed, dependencies included; changes nothing.",
		Example: `- name: Kubernetes tools, pinned and held
  apt:
    name: [kubelet=1.34.4-1.1, kubeadm=1.34.4-1.1]
    hold: true
    update_cache: true
    cache_valid_time: 3600`,
		New: func() modules.Module { return &Apt{} },
	})
}

// Apt manages packages with apt-get. A version pin may be a glob
// ("1.34.4-*"), resolved to the best matching version in the cache.
type Apt struct {
	Name              []string      `yaml:"name" aliases:"package,pkg" doc:"packages, each NAME or NAME=VERSION (VERSION may be a glob such as 1.34.4-*)"`
	State             string        `yaml:"state" default:"present" choices:"present,absent,latest" doc:"present installs missing packages, latest also upgrades them, absent removes them"`
	Hold              *bool         `yaml:"hold" doc:"true holds the named packages (apt-mark hold) so upgrades leave them alone; false releases them; unset leaves holds as they are"`
	Purge             bool          `yaml:"purge" doc:"with state: absent, also remove configuration files"`
	Deb               []string      `yaml:"deb" doc:"paths of .deb files on the host to install (their dependencies come from the repositories)"`
	UpdateCache       bool          `yaml:"update_cache" doc:"run apt-get update first when the cache is older than cache_valid_time or a source changed since"`
	CacheValidTime    time.Duration `yaml:"cache_valid_time" doc:"how old the apt cache may be before update_cache refreshes it (seconds or a duration) (default 1h); given alone it implies update_cache, as in Ansible"`
	InstallRecommends bool          `yaml:"install_recommends" doc:"also install recommended packages"`
	LockTimeout       time.Duration `yaml:"lock_timeout" doc:"how long to wait while another process (unattended-upgrades) holds the dpkg lock (default 5m)"`
	AptExtras         `yaml:",squash"`
}

func (a *Apt) Validate() error {
	// ansible-core's apt refreshes a cache older than cache_valid_time even
	// without update_cache, and accepts a task with nothing to do (name: []
	// from an empty list variable) as ok: its required_one_of runs after
	// upgrade's and autoremove's defaults are set, so it never fires.
	if a.CacheValidTime > 0 {
		a.UpdateCache = true
	}
	if err := a.AptExtras.validate(); err != nil {
		return err
	}
	if err := validateSpecs(a.Name); err != nil {
		return err
	}
	for _, d := range a.Deb {
		if !strings.HasSuffix(d, ".deb") || !path.IsAbs(d) {
			return fmt.Errorf("deb %q: expected an absolute path to a .deb file", d)
		}
	}
	if a.State == "absent" && len(a.Deb) > 0 {
		return errors.New("deb cannot be combined with state: absent (name the packages instead)")
	}
	if a.Purge && a.State != "absent" && !a.Autoremove {
		return errors.New("purge only applies to state: absent or autoremove")
	}
	if a.CacheValidTime < 0 {
		return errors.New("cache_valid_time must be positive: an update on every run would never report 'no change'")
	}
	return nil
}

func validateSpecs(names []string) error {
	for _, n := range names {
		s := parseSpec(n)
		if !validPkgName.MatchString(s.Name) {
			return fmt.Errorf("package %q: not a valid Debian package name", n)
		}
		if strings.Contains(n, "=") && s.Version == "" {
			return fmt.Errorf("package %q: empty version after '='", n)
		}
		if strings.ContainsAny(s.Version, " \t'\"") {
			return fmt.Errorf("package %q: invalid version", n)
		}
	}
	return nil
}

func (a *Apt) request(h modules.Host) pkgRequest {
	return pkgRequest{
		Specs: a.Name, State: a.State, Hold: a.Hold, Purge: a.Purge, Debs: a.Deb,
		UpdateCache: a.UpdateCache, CacheValidTime: durOr(a.CacheValidTime, time.Hour),
		InstallRecommends: a.InstallRecommends, LockTimeout: a.LockTimeout,
		Log: h.Log(), Extras: &a.AptExtras,
	}
}

// idle reports a task with nothing to do, which Check answers without
// looking at the host.
func (a *Apt) idle() bool {
	return len(a.Name) == 0 && len(a.Deb) == 0 && !a.UpdateCache && !a.Autoremove && !a.Autoclean && !a.upgrading()
}

func (a *Apt) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	if a.idle() {
		return plan.Diff{}, nil
	}
	s, unknown, err := planPackages(ctx, h.Conn(), a.request(h))
	if err != nil {
		return plan.Diff{}, err
	}
	d := s.diff()
	d.Unknown = unknown
	return d, nil
}

func (a *Apt) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	s, err := modules.StateOf[*steps](h, "apt", d)
	if err != nil {
		return err
	}
	if err := s.run(ctx, h.Conn()); err != nil || d.Unknown == "" {
		return err
	}
	// Check could not know the packages (their repository was still to be
	// added or the cache refreshed): plan again now that this has happened.
	s, unknown, err := planPackages(ctx, h.Conn(), a.request(h))
	if err != nil {
		return err
	}
	if unknown != "" {
		return errors.New(unknown)
	}
	return s.run(ctx, h.Conn())
}

// pkgRequest is what the apt, containerd and kubernetes_packages modules
// ask of the package system.
type pkgRequest struct {
	Specs             []string
	State             string // present, absent, latest
	Hold              *bool
	Purge             bool
	Debs              []string
	UpdateCache       bool
	CacheValidTime    time.Duration
	ForceUpdate       bool // a source was just written by the same task
	InstallRecommends bool
	LockTimeout       time.Duration
	Log               *slog.Logger
	Extras            *AptExtras // Ansible's further apt options; nil for gpuctl's own modules
}

// planPackages measures the host and returns the steps that bring the
// packages to the requested state. unknown is set when the outcome depends
// on an apt cache that this plan refreshes first; a package apt cannot
// locate otherwise is modules.NotYet (an earlier task may add its
// repository).
func planPackages(ctx context.Context, c conn.Conn, r pkgRequest) (s *steps, unknown string, err error) {
	s = &steps{}
	apt := newAptRunner(c, r.Log, r.LockTimeout)
	specs := make([]pkgSpec, 0, len(r.Specs))
	var names []string
	for _, n := range r.Specs {
		sp := parseSpec(n)
		specs = append(specs, sp)
		names = append(names, sp.Name)
	}
	needUpdate := r.ForceUpdate
	if r.UpdateCache && !needUpdate {
		age, newer, ok, err := cacheAge(ctx, c)
		if err != nil {
			return nil, "", err
		}
		needUpdate = !ok || newer || age > r.CacheValidTime
	}
	if needUpdate {
		s.add(plan.Change{Resource: "apt:cache", Action: plan.Run, Field: "update", After: "apt-get update"},
			func(ctx context.Context, c conn.Conn) error { return apt.update(ctx) })
	}

	if needUpdate && r.Extras.upgrading() {
		// What an upgrade does depends on the lists the update fetches.
		return s, "upgrades known after apply (the apt cache is refreshed first)", nil
	}
	if err := r.Extras.planUpgrade(ctx, apt, s); err != nil {
		return nil, "", err
	}

	debNames := map[string]string{}
	for _, d := range r.Debs {
		out, err := output(ctx, c, "dpkg-deb -f "+conn.Quote(d)+" Package Version")
		if err != nil {
			return nil, "", fmt.Errorf("read %s: %w", d, err)
		}
		var name, ver string
		for _, l := range lines(out) {
			k, v, _ := strings.Cut(l, ":")
			switch strings.TrimSpace(k) {
			case "Package":
				name = strings.TrimSpace(v)
			case "Version":
				ver = strings.TrimSpace(v)
			}
		}
		debNames[d] = name + "\t" + ver
		names = append(names, name)
	}

	status, err := dpkgStatus(ctx, c, names)
	if err != nil {
		return nil, "", err
	}

	var args []string // what apt-get install/remove gets
	pinned := false
	switch r.State {
	case "absent":
		for _, sp := range specs {
			if st := status[sp.Name]; st.Installed || r.Purge && st.Config {
				args = append(args, sp.Name)
			}
		}
	default:
		for _, sp := range specs {
			st := status[sp.Name]
			if r.State == "present" && st.Installed && sp.matches(st.Version) || r.Extras.onlyUpgrade() && !st.Installed {
				continue
			}
			if sp.glob() {
				v, err := resolveGlob(ctx, c, sp)
				if err != nil {
					if needUpdate {
						return s, fmt.Sprintf("%s: known after apply (%v)", sp, err), nil
					}
					return nil, "", modules.NotYet("%s: %w", sp, err)
				}
				if st.Installed && st.Version == v {
					continue
				}
				sp.Version = v
			}
			if sp.Version != "" {
				pinned = true
			}
			args = append(args, sp.String())
		}
		for d, nv := range debNames {
			name, ver, _ := strings.Cut(nv, "\t")
			if st := status[name]; st.Installed && st.Version == ver {
				continue
			}
			args = append(args, d)
		}
	}

	if len(args) > 0 {
		var cmd string
		switch {
		case r.State == "absent" && r.Purge:
			cmd = "apt-get -q -y --allow-change-held-packages " + r.Extras.removeFlags() + "purge "
		case r.State == "absent":
			// Naming a held package for removal is the explicit request
			// the hold is there to wait for.
			cmd = "apt-get -q -y --allow-change-held-packages " + r.Extras.removeFlags() + "remove "
		default:
			cmd = "apt-get -q -y " + r.Extras.dpkgOptions() + r.Extras.installFlags()
			if !r.InstallRecommends {
				cmd += "--no-install-recommends "
			}
			if pinned {
				// A pin may go down, and the packages we hold ourselves must
				// still move when the pin changes.
				cmd += "--allow-downgrades --allow-change-held-packages "
			}
			cmd += "install "
		}
		cmd += conn.Join(args...)
		sim, err := apt.run(ctx, strings.Replace(cmd, "apt-get -q -y", "apt-get -s -q -y", 1))
		if err != nil {
			return nil, "", err
		}
		if sim.ExitCode != 0 {
			simErr := fmt.Errorf("apt-get simulation: %w", &conn.ExitError{Cmd: cmd, Result: sim})
			switch {
			case notLocatable(sim.Stderr) && needUpdate:
				return s, "packages known after apply: " + firstError(sim.Stderr), nil
			case notLocatable(sim.Stderr):
				return nil, "", modules.NotYet("apt cannot locate the packages (%s): %w", firstError(sim.Stderr), simErr)
			}
			return nil, "", simErr
		}
		// apt clears the hold of a package it installs (pinned versions pass
		// --allow-change-held-packages): hold again what is meant to stay held.
		var rehold []string
		for _, sp := range specs {
			if r.Hold != nil && *r.Hold || r.Hold == nil && status[sp.Name].Held {
				rehold = append(rehold, sp.Name)
			}
		}
		ops := parseSimulation(sim.Stdout)
		for i, op := range ops {
			var do func(ctx context.Context, c conn.Conn) error
			if i == 0 {
				do = func(ctx context.Context, c conn.Conn) error {
					if _, err := apt.must(ctx, cmd); err != nil {
						return err
					}
					if len(rehold) == 0 || r.State == "absent" {
						return nil
					}
					_, err := apt.must(ctx, "apt-mark hold "+conn.Join(rehold...))
					return err
				}
			}
			s.add(op.change(), do)
		}
		if len(ops) == 0 && r.State == "present" {
			// apt considers the request satisfied (a virtual package, or a
			// version dpkg reports differently): nothing to do.
			s.note("apt reports nothing to do for %s", strings.Join(args, " "))
		}
	}

	if err := r.Extras.planAutoremove(ctx, apt, s, r.State, r.Purge); err != nil {
		return nil, "", err
	}
	if err := r.Extras.planAutoclean(ctx, apt, s); err != nil {
		return nil, "", err
	}

	if r.Hold != nil {
		want := *r.Hold
		var change []string
		for _, sp := range specs {
			st := status[sp.Name]
			if st.Held != want && (st.Installed || want) {
				change = append(change, sp.Name)
				s.add(plan.Change{Resource: "package:" + sp.Name, Action: plan.Update, Field: "hold",
					Before: strconv.FormatBool(st.Held), After: strconv.FormatBool(want)}, nil)
			}
		}
		if len(change) > 0 {
			verb := "unhold"
			if want {
				verb = "hold"
			}
			cmd := "apt-mark " + verb + " " + conn.Join(change...)
			s.list[len(s.list)-len(change)].do = func(ctx context.Context, c conn.Conn) error {
				_, err := apt.must(ctx, cmd)
				return err
			}
		}
	}
	return s, "", nil
}

// resolveGlob picks the best version in the apt cache matching the spec.
func resolveGlob(ctx context.Context, c conn.Conn, sp pkgSpec) (string, error) {
	out, err := output(ctx, c, "apt-cache madison "+conn.Quote(sp.Name), conn.Env(aptEnv))
	if err != nil {
		return "", fmt.Errorf("apt-cache madison %s: %w", sp.Name, err)
	}
	for _, v := range parseMadison(out) {
		if ok, _ := path.Match(sp.Version, v); ok {
			return v, nil
		}
	}
	return "", fmt.Errorf("no version of %s matching %q in the apt cache", sp.Name, sp.Version)
}

func firstError(stderr string) string {
	for _, l := range lines(stderr) {
		if strings.HasPrefix(l, "E:") {
			return strings.TrimSpace(strings.TrimPrefix(l, "E:"))
		}
	}
	return strings.TrimSpace(stderr)
}

var _ modules.Module = (*Apt)(nil)
