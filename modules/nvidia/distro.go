package nvidia

import (
	"fmt"
	"strings"
)

// Everything that differs between Ubuntu's and Debian's NVIDIA packaging is
// in this file.
//
// Ubuntu names the branch in the package (nvidia-headless-580-open) and
// offers several branches side by side in restricted/multiverse. Debian
// ships one branch per release (bookworm 535, trixie 550) under fixed names
// in the contrib/non-free/non-free-firmware components, so there the branch
// is checked against apt's candidate instead of chosen by name.

// driverPackages says what to install for a driver request.
type driverPackages struct {
	// Packages are installed together with one apt-get call.
	Packages []string
	// Probe is the package whose candidate tells whether the archive
	// offers the request at all (and, on Debian, which branch).
	Probe string
	// BranchFromCandidate is set where the package names carry no branch.
	BranchFromCandidate bool
	// Missing explains how to make Probe available when apt has no
	// candidate for it.
	Missing string
}

type driverRequest struct {
	Branch   string // 580
	Open     bool   // open kernel modules
	Headless bool   // no X11/desktop parts
	Server   bool   // Ubuntu's -server (long-lived) packages
	Kernel   string // running kernel release, for headers
}

func packagesFor(osr map[string]string, r driverRequest) (driverPackages, error) {
	id := osr["ID"]
	if id != "ubuntu" && id != "debian" {
		if like := osr["ID_LIKE"]; strings.Contains(like, "ubuntu") {
			id = "ubuntu"
		} else if strings.Contains(like, "debian") {
			id = "debian"
		}
	}
	headers := "linux-headers-" + r.Kernel
	switch id {
	case "ubuntu":
		suffix := r.Branch
		if r.Server {
			suffix += "-server"
		}
		if r.Open {
			suffix += "-open"
		}
		var pkgs []string
		if r.Headless {
			// nvidia-headless-* holds the kernel module and the compute
			// libraries; nvidia-smi lives in nvidia-utils-*, which has no
			// -open variant.
			utils := "nvidia-utils-" + r.Branch
			if r.Server {
				utils += "-server"
			}
			pkgs = []string{"nvidia-headless-" + suffix, utils}
		} else {
			pkgs = []string{"nvidia-driver-" + suffix}
		}
		return driverPackages{
			Packages: append([]string{headers}, pkgs...),
			Probe:    pkgs[0],
			Missing: fmt.Sprintf("apt has no candidate for %s: run apt-get update; check that the restricted component is enabled and that %s %s offers driver branch %s (apt-cache search --names-only '^nvidia-driver-[0-9]+')",
				pkgs[0], osr["NAME"], osr["VERSION_ID"], r.Branch),
		}, nil
	case "debian":
		kmod := "nvidia-kernel-dkms"
		if r.Open {
			kmod = "nvidia-open-kernel-dkms"
		}
		var pkgs []string
		if r.Headless {
			pkgs = []string{kmod, "nvidia-smi", "libcuda1", "nvidia-persistenced", "firmware-misc-nonfree"}
		} else {
			pkgs = []string{"nvidia-driver", kmod, "firmware-misc-nonfree"}
		}
		return driverPackages{
			Packages:            append([]string{headers}, pkgs...),
			Probe:               kmod,
			BranchFromCandidate: true,
			Missing: fmt.Sprintf("apt has no candidate for %s: enable the contrib, non-free and non-free-firmware components in /etc/apt/sources.list(.d) and run apt-get update", kmod) +
				map[bool]string{true: " (open kernel modules are in bookworm-backports and trixie or later)", false: ""}[r.Open],
		}, nil
	}
	return driverPackages{}, fmt.Errorf("nvidia_driver supports Ubuntu and Debian, not %q (%s)", osr["ID"], osr["PRETTY_NAME"])
}
