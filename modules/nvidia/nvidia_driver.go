package nvidia

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/internal/apt"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:      "nvidia_driver",
		Summary:   "install the NVIDIA driver from the distribution's packages",
		CheckMode: "reads sysfs, /proc, nvidia-smi, dpkg and apt-cache; reports packages, nouveau blacklist and reboot it would do",
		Example: `- name: NVIDIA driver 580 (open kernel modules)
  nvidia_driver:
    branch: "580"
    kernel_modules: open
    reboot: true`,
		New: func() modules.Module { return &Driver{} },
	})
}

// BlacklistPath is the modprobe.d file that keeps nouveau off the GPU.
const BlacklistPath = "/etc/modprobe.d/gpuctl-blacklist-nouveau.conf"

const blacklistContent = "# Managed by gpuctl (nvidia_driver): nouveau must not claim the GPU.\nblacklist nouveau\noptions nouveau modeset=0\n"

// Driver installs a driver branch and leaves a host whose driver already
// works on that branch alone, whatever installed it.
type Driver struct {
	Branch        string        `yaml:"branch" default:"580" doc:"driver branch: 535, 550, 570, 580 (Debian: the one its release ships)"`
	KernelModules string        `yaml:"kernel_modules" default:"auto" choices:"auto,open,proprietary" doc:"kernel module flavour; auto keeps a working driver's and installs open ones (NVIDIA's choice for Turing and later)"`
	Headless      bool          `yaml:"headless" default:"true" doc:"compute-only packages, no X11 parts"`
	Server        bool          `yaml:"server" doc:"Ubuntu's -server packages (longer-supported branches for data-centre GPUs)"`
	Reboot        bool          `yaml:"reboot" doc:"reboot when the new driver needs it (nouveau loaded, another driver version loaded); otherwise report reboot required"`
	RebootTimeout time.Duration `yaml:"reboot_timeout" doc:"how long to wait for the host after a reboot (default 10m)"`
	RequireGPU    bool          `yaml:"require_gpu" doc:"fail instead of skipping when the host has no NVIDIA GPU"`
	LockTimeout   time.Duration `yaml:"lock_timeout" doc:"how long to wait while another process (unattended-upgrades) holds the dpkg lock (default 5m)"`

	skip           string
	rebootRequired string
	version        string
}

var (
	_ modules.Module   = (*Driver)(nil)
	_ modules.Skipper  = (*Driver)(nil)
	_ modules.Resulter = (*Driver)(nil)
)

var branchRe = regexp.MustCompile(`^[0-9]{3}$`)

func (m *Driver) Validate() error {
	if !branchRe.MatchString(m.Branch) {
		return fmt.Errorf("branch %q: want a driver branch such as 535, 550, 570 or 580", m.Branch)
	}
	// Set here, not with a default tag: defaults are decoded without the
	// duration hook, so default:"10m" would not parse.
	if m.RebootTimeout == 0 {
		m.RebootTimeout = 10 * time.Minute
	}
	if m.RebootTimeout < 0 {
		return errors.New("reboot_timeout must be positive")
	}
	return nil
}

// driverPlan carries what Check decided to Apply.
type driverPlan struct {
	packages  []string
	blacklist *fileEdit
	modprobe  bool
	reboot    string // reason, when Apply reboots
}

func (m *Driver) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	var d plan.Diff
	m.skip, m.rebootRequired = "", ""
	f, err := Gather(ctx, h.Conn())
	if err != nil {
		return d, fmt.Errorf("%s: %w", h.Name(), err)
	}
	if !f.Present() {
		if m.RequireGPU {
			return d, noGPU(h)
		}
		m.skip = ErrNoGPU.Error()
		return d, nil
	}
	m.version = f.DriverVersion
	loadedBranch := Branch(f.DriverVersion)
	open := m.KernelModules == "open" || m.KernelModules == "auto" && (f.LoadedDriver != "nvidia" || f.Kernel.Open || f.Kernel.Version == "")
	flavorOK := m.KernelModules == "auto" || f.Kernel.Version != "" && f.Kernel.Open == open
	if f.Working() && loadedBranch == m.Branch && flavorOK {
		d.Note(fmt.Sprintf("driver %s (%s kernel modules) works on the requested branch %s", f.DriverVersion, flavorName(f.Kernel.Open), m.Branch))
		if !f.HeadersInstalled {
			d.Note(fmt.Sprintf("kernel headers for %s are not installed: DKMS cannot rebuild the driver after a kernel upgrade", f.KernelRelease))
		}
		return d, nil
	}

	p := &driverPlan{}
	pk, err := packagesFor(f.OS, driverRequest{Branch: m.Branch, Open: open, Headless: m.Headless, Server: m.Server, Kernel: f.KernelRelease})
	if err != nil {
		return d, fmt.Errorf("%s: %w", h.Name(), err)
	}
	have, err := packageStates(ctx, h.Conn(), pk.Packages)
	if err != nil {
		return d, fmt.Errorf("%s: %w", h.Name(), err)
	}
	for _, pkg := range pk.Packages {
		isHeaders := strings.HasPrefix(pkg, "linux-headers-")
		if _, ok := have[pkg]; ok || isHeaders && f.HeadersInstalled {
			continue
		}
		p.packages = append(p.packages, pkg)
	}
	// Everything the install needs must be available before anything is
	// touched: a host is never left with half a driver.
	if len(p.packages) > 0 {
		if err := m.checkAvailable(ctx, h, pk, p.packages, f.KernelRelease); err != nil {
			return d, err
		}
		for _, pkg := range p.packages {
			d.Add(plan.Change{Resource: "package:" + pkg, Action: plan.Create, Field: "state", Before: "absent", After: "present"})
		}
	}
	if f.NouveauLoaded && !f.NouveauBlacklisted {
		if err := planBlacklist(ctx, h, p, &d); err != nil {
			return d, err
		}
	}

	var reason string
	switch {
	case f.NouveauLoaded:
		reason = "nouveau is loaded and holds the GPU"
	case f.LoadedDriver == "nvidia" && loadedBranch != m.Branch:
		reason = fmt.Sprintf("driver %s is loaded, branch %s requested", f.DriverVersion, m.Branch)
	case f.LoadedDriver == "nvidia" && !flavorOK:
		reason = fmt.Sprintf("%s kernel modules are loaded, %s requested", flavorName(f.Kernel.Open), m.KernelModules)
	case f.LoadedDriver == "nvidia" && strings.Contains(f.SMIError, "mismatch"):
		reason = "driver/library version mismatch: the loaded module is older than the installed libraries"
	case f.LoadedDriver == "":
		// Nothing holds the GPU: the new module can be loaded without a reboot.
		p.modprobe = true
		d.Add(plan.Change{Resource: "kmod:nvidia", Action: plan.Create, Field: "state", Before: "unloaded", After: "loaded"})
	}
	if reason != "" {
		if !m.Reboot {
			m.rebootRequired = reason
			d.Note("reboot required: " + reason + " (set reboot: true to let gpuctl reboot)")
		} else if why := rebootBlocker(ctx, h); why != "" {
			m.rebootRequired = reason
			d.Note("reboot required: " + reason + "; gpuctl will not reboot because " + why)
		} else {
			p.reboot = reason
			d.Add(plan.Change{Resource: "host:" + h.Name(), Action: plan.Run, Field: "reboot", After: reason})
		}
	}
	if d.Empty() && !f.Working() && m.rebootRequired == "" {
		// Installed and loaded, yet not working: nothing here can fix it.
		msg := f.SMIError
		if msg == "" {
			msg = "nvidia-smi does not work"
		}
		return d, fmt.Errorf("%s: driver packages are installed and the module is loaded but the driver does not work: %s", h.Name(), msg)
	}
	if f.SecureBoot == "enabled" && len(p.packages) > 0 {
		d.Note("Secure Boot is enabled: DKMS-built modules load only once their signing key is enrolled (mokutil --import, then confirm at the next boot)")
	}
	d.State = p
	return d, nil
}

// planBlacklist plans the file that keeps nouveau from claiming the GPU,
// and the initramfs rebuild that makes it hold at boot.
func planBlacklist(ctx context.Context, h modules.Host, p *driverPlan, d *plan.Diff) error {
	e, err := diffFile(ctx, h.Conn(), BlacklistPath, blacklistContent)
	if err != nil {
		return fmt.Errorf("%s: %w", h.Name(), err)
	}
	if e != nil {
		p.blacklist = e
		e.addTo(d)
		d.Add(plan.Change{Resource: "command:update-initramfs -u", Action: plan.Run})
	}
	return nil
}

// checkAvailable makes sure apt can install every missing package, and on
// Debian that the release ships the requested branch.
func (m *Driver) checkAvailable(ctx context.Context, h modules.Host, pk driverPackages, missing []string, kernel string) error {
	for _, pkg := range missing {
		cand, err := candidate(ctx, h.Conn(), pkg)
		if err != nil {
			return fmt.Errorf("%s: %w", h.Name(), err)
		}
		switch {
		case cand == "" && strings.HasPrefix(pkg, "linux-headers-"):
			return fmt.Errorf("%s: apt has no %s: the running kernel's headers are not in the archive (an older kernel?); upgrade the kernel, reboot, then run again", h.Name(), pkg)
		case cand == "" && pkg == pk.Probe:
			return fmt.Errorf("%s: %s", h.Name(), pk.Missing)
		case cand == "":
			return fmt.Errorf("%s: apt has no candidate for %s: run apt-get update", h.Name(), pkg)
		case pkg == pk.Probe && pk.BranchFromCandidate:
			v := cand
			if _, after, ok := strings.Cut(v, ":"); ok {
				v = after
			}
			if b := Branch(v); b != m.Branch {
				return fmt.Errorf("%s: this release ships driver branch %s (%s %s), not %s: set branch: %q, or use NVIDIA's CUDA repository for other branches", h.Name(), b, pkg, cand, m.Branch, b)
			}
		}
	}
	return nil
}

func (m *Driver) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	p, err := modules.StateOf[*driverPlan](h, "nvidia_driver", d)
	if err != nil {
		return err
	}
	if len(p.packages) > 0 {
		cmd := "apt-get install -y --no-install-recommends " + conn.Join(p.packages...)
		if _, err := apt.NewRunner(h.Conn(), h.Log(), m.LockTimeout).Must(ctx, cmd); err != nil {
			return fmt.Errorf("%s: install driver packages: %w", h.Name(), err)
		}
	}
	if p.blacklist != nil {
		if err := p.blacklist.Write(ctx, h); err != nil {
			return err
		}
		if _, err := run(ctx, h, "if command -v update-initramfs >/dev/null; then update-initramfs -u; elif command -v dracut >/dev/null; then dracut -f; fi"); err != nil {
			return fmt.Errorf("rebuild initramfs after blacklisting nouveau: %w", err)
		}
	}
	if p.modprobe {
		if _, err := run(ctx, h, "modprobe nvidia"); err != nil {
			if strings.Contains(err.Error(), "Key was rejected") {
				return fmt.Errorf("modprobe nvidia: Secure Boot rejected the unsigned module: enroll the DKMS signing key (mokutil --import /var/lib/dkms/mok.pub) and reboot, or disable Secure Boot: %w", err)
			}
			return fmt.Errorf("modprobe nvidia failed (see dmesg on the host): %w", err)
		}
	}
	if p.reboot != "" {
		return reboot(ctx, h, p.reboot, m.RebootTimeout)
	}
	return nil
}

func (m *Driver) Skip() string { return m.skip }

func (m *Driver) Result() map[string]any {
	return map[string]any{"driver_version": m.version, "reboot_required": m.rebootRequired != "", "reboot_reason": m.rebootRequired}
}

func flavorName(open bool) string {
	if open {
		return "open"
	}
	return "proprietary"
}
