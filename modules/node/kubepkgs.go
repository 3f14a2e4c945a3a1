package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/internal/fileplan"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:      "kubernetes_packages",
		Summary:   "Install kubelet, kubeadm and kubectl at one pinned version, held (upstream apt repository or air-gapped binaries)",
		CheckMode: "Reports the repository, package versions and holds it would change (apt simulation), or for binaries the files whose checksum differs; changes nothing.",
		Example: `- name: Kubernetes 1.34.4 from pkgs.k8s.io
  kubernetes_packages:
    version: 1.34.4
- name: Air-gapped: binaries shipped next to the playbook
  kubernetes_packages:
    version: 1.34.4
    source: binaries
    binaries_dir: files/k8s/v1.34.4`,
		New: func() modules.Module { return &KubernetesPackages{} },
	})
}

// KubernetesPackages installs the node tools of one Kubernetes version. The
// upstream repository has one flat repository per minor version, so the
// minor picks the repository and the patch the package version; the
// packages are held so that an unattended `apt upgrade` cannot move the
// kubelet past the control plane.
type KubernetesPackages struct {
	Version      string        `yaml:"version" required:"true" doc:"Kubernetes version, e.g. 1.34.4"`
	Source       string        `yaml:"source" default:"apt" choices:"apt,binaries" doc:"apt uses the upstream repository; binaries copies kubelet/kubeadm/kubectl from binaries_dir or binaries_url on the machine gpuctl runs on (air gap)"`
	Packages     []string      `yaml:"packages" doc:"which tools (default kubelet, kubeadm, kubectl)"`
	Hold         bool          `yaml:"hold" default:"true" doc:"hold the packages at the pinned version"`
	Revision     string        `yaml:"revision" default:"*" doc:"Debian revision of the packages (glob); the repository's are like 1.1"`
	RepoURL      string        `yaml:"repo_url" doc:"repository (default https://pkgs.k8s.io/core:/stable:/vMINOR/deb/)"`
	KeyURL       string        `yaml:"key_url" doc:"its signing key (default REPO_URL/Release.key)"`
	BinariesDir  string        `yaml:"binaries_dir" doc:"with source: binaries, a directory on the controller holding the binaries"`
	BinariesURL  string        `yaml:"binaries_url" doc:"with source: binaries, a base URL the controller downloads NAME (and NAME.sha256 when present) from, e.g. https://dl.k8s.io/release/v1.34.4/bin/linux/amd64"`
	InstallDir   string        `yaml:"install_dir" default:"/usr/bin" doc:"with source: binaries, where the binaries go"`
	Dependencies []string      `yaml:"dependencies" doc:"with source: binaries, apt packages the kubelet and kubeadm need (default conntrack, iptables, socat, ethtool, kmod; [] when they come another way)"`
	LockTimeout  time.Duration `yaml:"lock_timeout" doc:"how long to wait for the dpkg lock (default 5m)"`
}

var kubeVersion = regexp.MustCompile(`^v?(1\.(\d+))\.(\d+)$`)

func (k *KubernetesPackages) Validate() error {
	if !kubeVersion.MatchString(k.Version) {
		return fmt.Errorf("version %q: expected MAJOR.MINOR.PATCH such as 1.34.4", k.Version)
	}
	for _, p := range k.packages() {
		if !validPkgName.MatchString(p) || strings.Contains(p, "=") {
			return fmt.Errorf("package %q: give names only; the version comes from version", p)
		}
	}
	switch k.Source {
	case "apt":
		if k.BinariesDir != "" || k.BinariesURL != "" {
			return errors.New("binaries_dir and binaries_url need source: binaries")
		}
	case "binaries":
		if (k.BinariesDir == "") == (k.BinariesURL == "") {
			return errors.New("source: binaries needs exactly one of binaries_dir and binaries_url")
		}
		if k.BinariesURL != "" {
			if u, err := url.Parse(k.BinariesURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
				return fmt.Errorf("binaries_url %q: expected an http(s) URL", k.BinariesURL)
			}
		}
		if !path.IsAbs(k.InstallDir) {
			return fmt.Errorf("install_dir %q must be absolute", k.InstallDir)
		}
		if k.RepoURL != "" || k.KeyURL != "" {
			return errors.New("repo_url and key_url need source: apt")
		}
	}
	return nil
}

func (k *KubernetesPackages) packages() []string {
	if k.Packages == nil {
		return []string{"kubelet", "kubeadm", "kubectl"}
	}
	return k.Packages
}

// version returns 1.34.4 and 1.34 from the argument.
func (k *KubernetesPackages) version() (full, minor string) {
	m := kubeVersion.FindStringSubmatch(k.Version)
	return strings.TrimPrefix(k.Version, "v"), m[1]
}

func (k *KubernetesPackages) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	var s *steps
	var unknown string
	var err error
	if k.Source == "binaries" {
		s, unknown, err = k.planBinaries(ctx, h)
	} else {
		s, unknown, err = k.planApt(ctx, h)
	}
	if err != nil {
		return plan.Diff{}, err
	}
	d := s.diff()
	d.Unknown = unknown
	return d, nil
}

func (k *KubernetesPackages) planApt(ctx context.Context, h modules.Host) (*steps, string, error) {
	full, minor := k.version()
	repo := AptSource{Name: "kubernetes", URIs: []string{k.RepoURL}, Suites: []string{"/"}, KeyURL: k.KeyURL, RemoveDuplicates: true}
	if repo.URIs[0] == "" {
		repo.URIs[0] = kubeRepoURL(minor)
	}
	if repo.KeyURL == "" {
		repo.KeyURL = strings.TrimSuffix(repo.URIs[0], "/") + "/Release.key"
	}
	s, err := repo.plan(ctx, h, true)
	if err != nil {
		return nil, "", err
	}
	var specs []string
	for _, p := range k.packages() {
		specs = append(specs, p+"="+full+"-"+k.Revision)
	}
	hold := k.Hold
	ps, unknown, err := planPackages(ctx, h.Conn(), pkgRequest{Specs: specs, State: "present", Hold: &hold,
		ForceUpdate: !s.empty(), LockTimeout: k.LockTimeout, Log: h.Log()})
	if err != nil {
		return nil, "", err
	}
	s.merge(ps)
	return s, unknown, nil
}

func (k *KubernetesPackages) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	s, err := modules.StateOf[*steps](h, "kubernetes_packages", d)
	if err != nil {
		return err
	}
	if err := s.run(ctx, h.Conn()); err != nil || d.Unknown == "" {
		return err
	}
	// The repository was new at check time: the versions are known now.
	s, unknown, err := k.planApt(ctx, h)
	if err != nil {
		return err
	}
	if unknown != "" {
		return errors.New(unknown)
	}
	return s.run(ctx, h.Conn())
}

// The units the upstream packages install, for hosts that get binaries.
const kubeletUnit = `[Unit]
Description=kubelet: The Kubernetes Node Agent
Documentation=https://kubernetes.io/docs/
Wants=network-online.target
After=network-online.target

[Service]
ExecStart=%s/kubelet
Restart=always
StartLimitInterval=0
RestartSec=10

[Install]
WantedBy=multi-user.target
`

const kubeadmDropIn = `[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=%s/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
`

func (k *KubernetesPackages) planBinaries(ctx context.Context, h modules.Host) (*steps, string, error) {
	c := h.Conn()
	s := &steps{}
	deps := k.Dependencies
	if deps == nil {
		deps = []string{"conntrack", "iptables", "socat", "ethtool", "kmod"}
	}
	if len(deps) > 0 {
		ps, unknown, err := planPackages(ctx, c, pkgRequest{Specs: deps, State: "present", LockTimeout: k.LockTimeout, Log: h.Log()})
		if err != nil {
			return nil, "", err
		}
		if unknown != "" {
			return nil, "", errors.New(unknown)
		}
		s.merge(ps)
	}
	full, _ := k.version()
	var blobs []fileplan.Blob
	for _, name := range k.packages() {
		data, err := k.fetchBinary(ctx, h, name)
		if err != nil {
			return nil, "", err
		}
		if err := checkBinaryVersion(data, name, full); err != nil {
			return nil, "", err
		}
		blobs = append(blobs, fileplan.BytesBlob(k.InstallDir+"/"+name, data, 0o755, k.binarySource(name)))
	}
	var bd plan.Diff
	b, err := fileplan.CheckBlobs(ctx, c, blobs, &bd)
	if err != nil {
		return nil, "", err
	}
	s.addAll(bd, b.Apply)
	if hasString(k.packages(), "kubelet") {
		unitsBefore := len(s.list)
		if err := fileStep(ctx, c, s, "/etc/systemd/system/kubelet.service", fmt.Appendf(nil, kubeletUnit, k.InstallDir), 0o644, false); err != nil {
			return nil, "", err
		}
		if err := fileStep(ctx, c, s, "/etc/systemd/system/kubelet.service.d/10-kubeadm.conf", fmt.Appendf(nil, kubeadmDropIn, k.InstallDir), 0o644, false); err != nil {
			return nil, "", err
		}
		enabled, _ := c.Run(ctx, "systemctl is-enabled kubelet 2>/dev/null || true")
		if strings.TrimSpace(enabled.Stdout) == "" {
			enabled.Stdout = "absent"
		}
		if len(s.list) > unitsBefore || strings.TrimSpace(enabled.Stdout) != "enabled" {
			// kubeadm starts the kubelet; until then it only needs to be enabled.
			s.add(plan.Change{Resource: "service:kubelet", Action: plan.Update, Field: "enabled", Before: strings.TrimSpace(enabled.Stdout), After: "enabled"},
				func(ctx context.Context, c conn.Conn) error {
					return sh(ctx, c, "systemctl daemon-reload && systemctl enable kubelet")
				})
		}
	}
	return s, "", nil
}

func hasString(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// checkBinaryVersion refuses a binary built for another version: the
// stamp `vMAJOR.MINOR.PATCH` is linked into every Kubernetes binary.
func checkBinaryVersion(data []byte, name, full string) error {
	if len(data) < 4 || string(data[1:4]) != "ELF" {
		return fmt.Errorf("%s: not an ELF executable", name)
	}
	if !strings.Contains(string(data), "v"+full) {
		return fmt.Errorf("%s: binary does not carry version v%s; it was built for another release", name, full)
	}
	return nil
}

// fetchBinary reads a binary on the controller: from binaries_dir, or from
// binaries_url verified against NAME.sha256 when the server has one.
// binarySource is where fetchBinary takes name from, for the plan.
func (k *KubernetesPackages) binarySource(name string) string {
	if k.BinariesDir != "" {
		return path.Join(k.BinariesDir, name)
	}
	return strings.TrimSuffix(k.BinariesURL, "/") + "/" + name
}

func (k *KubernetesPackages) fetchBinary(ctx context.Context, h modules.Host, name string) ([]byte, error) {
	if k.BinariesDir != "" {
		p := path.Join(k.BinariesDir, name)
		data, err := h.Local().ReadFile(ctx, p)
		if err != nil {
			return nil, fmt.Errorf("read %s on the controller: %w", p, err)
		}
		return data, nil
	}
	u := strings.TrimSuffix(k.BinariesURL, "/") + "/" + name
	data, status, err := httpGet(ctx, u)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("download %s: HTTP %d", u, status)
	}
	sumText, status, err := httpGet(ctx, u+".sha256")
	if err == nil && status == http.StatusOK {
		f := strings.Fields(string(sumText))
		sum := sha256.Sum256(data)
		if len(f) == 0 || f[0] != hex.EncodeToString(sum[:]) {
			return nil, fmt.Errorf("download %s: checksum does not match %s.sha256", u, u)
		}
	}
	return data, nil
}

func httpGet(ctx context.Context, u string) ([]byte, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("download %s: %w", u, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, 0, fmt.Errorf("download %s: %w", u, err)
	}
	return data, resp.StatusCode, nil
}

var _ modules.Module = (*KubernetesPackages)(nil)
