package node

import (
	"context"
	"fmt"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/plan"
)

// AptExtras are ansible.builtin.apt's options beyond what gpuctl's own
// package modules need: upgrades, autoremove and apt-get's permission
// flags. Every method works on a nil value (containerd, kubernetes_packages).
type AptExtras struct {
	Autoremove              bool   `yaml:"autoremove" doc:"remove packages installed as dependencies that nothing needs any more (with state=absent, apt-get --auto-remove)"`
	Autoclean               bool   `yaml:"autoclean" doc:"delete downloaded package files that can no longer be downloaded (apt-get autoclean)"`
	Upgrade                 string `yaml:"upgrade" default:"no" choices:"no,yes,safe,full,dist" doc:"upgrade installed packages first: yes/safe (apt-get upgrade --with-new-pkgs), full/dist (apt-get dist-upgrade)"`
	Force                   bool   `yaml:"force" doc:"allow downgrades, unauthenticated packages, removing essential packages and changing held ones (Ansible's force)"`
	AllowDowngrade          bool   `yaml:"allow_downgrade" aliases:"allow-downgrade,allow_downgrades,allow-downgrades" doc:"let a pinned version go down (apt-get --allow-downgrades)"`
	AllowUnauthenticated    bool   `yaml:"allow_unauthenticated" aliases:"allow-unauthenticated" doc:"install packages from repositories apt cannot verify"`
	AllowChangeHeldPackages bool   `yaml:"allow_change_held_packages" doc:"let apt change packages that are held"`
	DefaultRelease          string `yaml:"default_release" aliases:"default-release" doc:"prefer this release (apt-get -t), such as bookworm-backports"`
	OnlyUpgrade             bool   `yaml:"only_upgrade" doc:"only upgrade named packages that are installed; never install new ones"`
	DpkgOptions             string `yaml:"dpkg_options" default:"force-confdef,force-confold" doc:"comma-separated dpkg options (without --), passed as -o Dpkg::Options::=--OPTION"`
	ForceAptGet             bool   `yaml:"force_apt_get" doc:"accepted for Ansible playbooks; gpuctl always uses apt-get"`
}

func (x *AptExtras) validate() error {
	for _, o := range strings.Split(x.DpkgOptions, ",") {
		if strings.ContainsAny(o, " \t'\"$;|&") {
			return fmt.Errorf("dpkg_options %q: expected comma-separated option names", x.DpkgOptions)
		}
	}
	if strings.ContainsAny(x.DefaultRelease, " \t'\"$;|&") {
		return fmt.Errorf("default_release %q is not a release name", x.DefaultRelease)
	}
	return nil
}

func (x *AptExtras) onlyUpgrade() bool { return x != nil && x.OnlyUpgrade }

func (x *AptExtras) upgrading() bool { return x != nil && x.Upgrade != "" && x.Upgrade != "no" }

// dpkgOptions are the -o Dpkg::Options of an install; gpuctl's own
// modules keep the configuration files a host has (confdef, confold).
func (x *AptExtras) dpkgOptions() string {
	opts := "force-confdef,force-confold"
	if x != nil {
		opts = x.DpkgOptions
	}
	var b strings.Builder
	for _, o := range strings.Split(opts, ",") {
		if o = strings.TrimSpace(o); o != "" {
			b.WriteString("-o Dpkg::Options::=--" + o + " ")
		}
	}
	return b.String()
}

// installFlags are apt-get's permission flags and target release.
func (x *AptExtras) installFlags() string {
	if x == nil {
		return ""
	}
	var f []string
	if x.AllowDowngrade || x.Force {
		f = append(f, "--allow-downgrades")
	}
	if x.AllowUnauthenticated || x.Force {
		f = append(f, "--allow-unauthenticated")
	}
	if x.AllowChangeHeldPackages || x.Force {
		f = append(f, "--allow-change-held-packages")
	}
	if x.Force {
		f = append(f, "--allow-remove-essential")
	}
	if x.OnlyUpgrade {
		f = append(f, "--only-upgrade")
	}
	if x.DefaultRelease != "" {
		f = append(f, "-t", conn.Quote(x.DefaultRelease))
	}
	if len(f) == 0 {
		return ""
	}
	return strings.Join(f, " ") + " "
}

func (x *AptExtras) removeFlags() string {
	if x == nil || !x.Autoremove {
		return ""
	}
	return "--auto-remove "
}

// planUpgrade adds apt-get upgrade or dist-upgrade, as simulated.
func (x *AptExtras) planUpgrade(ctx context.Context, apt *aptRunner, s *steps) error {
	if !x.upgrading() {
		return nil
	}
	verb := "upgrade --with-new-pkgs"
	if x.Upgrade == "full" || x.Upgrade == "dist" {
		verb = "dist-upgrade"
	}
	return simulatedStep(ctx, apt, s, "apt-get -q -y "+x.dpkgOptions()+x.installFlags()+verb)
}

// planAutoremove adds apt-get autoremove when it would remove anything;
// with state=absent, --auto-remove on the removal does it instead.
func (x *AptExtras) planAutoremove(ctx context.Context, apt *aptRunner, s *steps, state string, purge bool) error {
	if x == nil || !x.Autoremove || state == "absent" && len(s.list) > 0 {
		return nil
	}
	cmd := "apt-get -q -y autoremove"
	if purge {
		cmd += " --purge"
	}
	return simulatedStep(ctx, apt, s, cmd)
}

// planAutoclean adds apt-get autoclean when it would delete a package file
// from apt's cache: its simulation lists them as "Del NAME VERSION [SIZE]",
// the lines ansible-core's apt judges changed by.
func (x *AptExtras) planAutoclean(ctx context.Context, apt *aptRunner, s *steps) error {
	if x == nil || !x.Autoclean {
		return nil
	}
	sim, err := apt.must(ctx, "apt-get -s -q -y autoclean")
	if err != nil {
		return fmt.Errorf("apt-get autoclean simulation: %w", err)
	}
	first := true
	for l := range strings.SplitSeq(sim, "\n") {
		f := strings.Fields(l)
		if len(f) < 3 || f[0] != "Del" {
			continue
		}
		var do func(ctx context.Context, c conn.Conn) error
		if first {
			do = func(ctx context.Context, c conn.Conn) error {
				_, err := apt.must(ctx, "apt-get -q -y autoclean")
				return err
			}
			first = false
		}
		s.add(plan.Change{Resource: "apt-archive:" + f[1] + "_" + f[2], Action: plan.Delete}, do)
	}
	return nil
}

// simulatedStep runs cmd with -s and adds one change per package it
// would touch; the first runs cmd.
func simulatedStep(ctx context.Context, apt *aptRunner, s *steps, cmd string) error {
	sim, err := apt.must(ctx, strings.Replace(cmd, "apt-get -q -y", "apt-get -s -q -y", 1))
	if err != nil {
		return fmt.Errorf("apt-get simulation: %w", err)
	}
	for i, op := range parseSimulation(sim) {
		var do func(ctx context.Context, c conn.Conn) error
		if i == 0 {
			do = func(ctx context.Context, c conn.Conn) error {
				_, err := apt.must(ctx, cmd)
				return err
			}
		}
		s.add(op.change(), do)
	}
	return nil
}
