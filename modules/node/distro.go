package node

import (
	"context"
	"fmt"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
)

// Everything that differs between the supported distributions is in this
// file: which releases are supported, where Docker's repository lives, and
// how package names map.

// Distro is the part of /etc/os-release the modules need.
type Distro struct {
	ID        string // ubuntu, debian
	VersionID string // 22.04, 24.04, 12
	Codename  string // jammy, noble, bookworm
	Pretty    string
}

// supported lists the releases gpuctl is tested against, with why each
// matters; anything else gets a clear refusal from preflight.
var supported = map[string][]string{
	"ubuntu": {"22.04", "24.04"},
	"debian": {"12"},
}

// parseOSRelease reads os-release(5) syntax: KEY=value with optional quotes.
func parseOSRelease(s string) Distro {
	kv := map[string]string{}
	for _, l := range lines(s) {
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		kv[strings.TrimSpace(k)] = v
	}
	d := Distro{ID: kv["ID"], VersionID: kv["VERSION_ID"], Codename: kv["VERSION_CODENAME"], Pretty: kv["PRETTY_NAME"]}
	if d.Codename == "" {
		d.Codename = kv["UBUNTU_CODENAME"]
	}
	return d
}

// readDistro reads /etc/os-release on the host.
func readDistro(ctx context.Context, c conn.Conn) (Distro, error) {
	data, ok, err := readFile(ctx, c, "/etc/os-release")
	if err != nil {
		return Distro{}, err
	}
	if !ok {
		if data, ok, err = readFile(ctx, c, "/usr/lib/os-release"); err != nil || !ok {
			return Distro{}, fmt.Errorf("no /etc/os-release: not a Debian or Ubuntu system")
		}
	}
	return parseOSRelease(string(data)), nil
}

// Supported returns nil for a supported release, else an actionable error.
func (d Distro) Supported() error {
	vs, ok := supported[d.ID]
	if !ok {
		return fmt.Errorf("%s is not supported: gpuctl prepares Ubuntu 22.04/24.04 and Debian 12 (apt, systemd)", d.name())
	}
	for _, v := range vs {
		if v == d.VersionID {
			return nil
		}
	}
	return fmt.Errorf("%s is not a supported release of %s (supported: %s)", d.name(), d.ID, strings.Join(vs, ", "))
}

func (d Distro) name() string {
	if d.Pretty != "" {
		return d.Pretty
	}
	return strings.TrimSpace(d.ID + " " + d.VersionID)
}

// Docker publishes one repository per distribution, with the release
// codename as suite and one key for all.
func (d Distro) dockerRepoURL() string { return "https://download.docker.com/linux/" + d.ID }
func (d Distro) dockerKeyURL() string  { return d.dockerRepoURL() + "/gpg" }

// containerdPackage is the package that provides containerd for a source:
// the distributions call it containerd, Docker's repository containerd.io.
func containerdPackage(source string) string {
	if source == "docker" {
		return "containerd.io"
	}
	return "containerd"
}

// conflictingContainerd is the other source's package, which must go before
// this one can be installed (both ship /usr/bin/containerd).
func conflictingContainerd(source string) string {
	if source == "docker" {
		return "containerd"
	}
	return "containerd.io"
}

// kubeRepoURL is the upstream community repository for one minor version;
// it is a flat repository (suite "/"), signed with Release.key beside it.
func kubeRepoURL(minor string) string {
	return "https://pkgs.k8s.io/core:/stable:/v" + minor + "/deb/"
}
