package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:      "kubeadm",
		Summary:   "Initialise a control plane, join a node, or reset one (kubeadm), and fetch admin.conf",
		CheckMode: "Detects an existing control plane (left alone) or a half-finished init (an error saying what to do), diffs the generated kubeadm configuration and reports the init/join/reset it would run; changes nothing.",
		Example: `- name: Control plane
  kubeadm:
    action: init
    kubernetes_version: v1.34.4
    pod_network_cidr: 10.244.0.0/16
    advertise_address: "{{ ansible_host }}"
- name: Worker
  kubeadm:
    action: join
    api_server_endpoint: 10.0.0.10:6443
    token: "{{ join_token }}"
    discovery_token_ca_cert_hash: "{{ ca_hash }}"`,
		New: func() modules.Module { return &Kubeadm{} },
	})
}

// Kubeadm drives kubeadm from a generated configuration file. It never
// re-runs init on a working control plane and never resets unless asked
// with action: reset.
type Kubeadm struct {
	Action               string         `yaml:"action" default:"init" choices:"init,join,reset" doc:"init a control plane, join this node to one, or reset it (reset only ever runs when asked for)"`
	KubernetesVersion    string         `yaml:"kubernetes_version" default:"v1.34.4" doc:"control plane version"`
	PodNetworkCIDR       string         `yaml:"pod_network_cidr" default:"10.244.0.0/16" doc:"pod network; must match the CNI (Flannel's default is 10.244.0.0/16)"`
	ServiceCIDR          string         `yaml:"service_cidr" default:"10.96.0.0/12" doc:"service network"`
	CRISocket            string         `yaml:"cri_socket" default:"unix:///run/containerd/containerd.sock" doc:"container runtime endpoint"`
	CgroupDriver         string         `yaml:"cgroup_driver" default:"systemd" choices:"systemd,cgroupfs" doc:"kubelet cgroup driver; must match containerd's (SystemdCgroup = true means systemd)"`
	AdvertiseAddress     string         `yaml:"advertise_address" doc:"IP the API server advertises (default: kubeadm picks the default route's address)"`
	BindPort             int            `yaml:"bind_port" default:"6443" doc:"API server port"`
	ControlPlaneEndpoint string         `yaml:"control_plane_endpoint" doc:"stable HOST[:PORT] (load balancer, DNS name) for a control plane that may grow to several nodes"`
	ExtraSANs            []string       `yaml:"extra_sans" doc:"extra names and IPs in the API server certificate"`
	NodeName             string         `yaml:"node_name" doc:"node name (default: the hostname)"`
	ImageRepository      string         `yaml:"image_repository" doc:"registry for control plane images (a local mirror in an air gap)"`
	IgnorePreflight      []string       `yaml:"ignore_preflight_errors" doc:"kubeadm preflight checks to ignore"`
	SkipPhases           []string       `yaml:"skip_phases" doc:"kubeadm phases to skip (e.g. addon/kube-proxy)"`
	KubeletConfig        map[string]any `yaml:"kubelet_config" doc:"extra KubeletConfiguration fields (e.g. {failSwapOn: false})"`
	KubeProxyConfig      map[string]any `yaml:"kube_proxy_config" doc:"init: KubeProxyConfiguration fields (e.g. {conntrack: {maxPerCore: 0}} where kube-proxy cannot set nf_conntrack_max, as in containers)"`
	ConfigPath           string         `yaml:"config_path" default:"/etc/kubernetes/gpuctl-kubeadm.yaml" doc:"where the generated configuration is written on the host"`
	FetchAdminConf       string         `yaml:"fetch_admin_conf" default:"~/.kube/gpuctl/{host}.conf" doc:"after init, copy admin.conf here on the controller (mode 0600; {host} is the inventory name; empty to skip)"`
	APIServerEndpoint    string         `yaml:"api_server_endpoint" doc:"join: HOST:PORT of the control plane"`
	Token                string         `yaml:"token" secret:"true" doc:"join: bootstrap token (kubeadm token create); masked in all output"`
	CACertHash           []string       `yaml:"discovery_token_ca_cert_hash" doc:"join: sha256:HEX of the cluster CA's public key"`
	UnsafeSkipCAVerify   bool           `yaml:"unsafe_skip_ca_verification" doc:"join without pinning the CA (test clusters only)"`
	HealthTimeout        time.Duration  `yaml:"health_timeout" doc:"how long an existing control plane may take to answer before it counts as broken (default 60s)"`
}

func (k *Kubeadm) Validate() error {
	if !kubeVersion.MatchString(k.KubernetesVersion) {
		return fmt.Errorf("kubernetes_version %q: expected v1.MINOR.PATCH", k.KubernetesVersion)
	}
	if !strings.HasPrefix(k.KubernetesVersion, "v") {
		k.KubernetesVersion = "v" + k.KubernetesVersion
	}
	if err := validCIDR(k.PodNetworkCIDR); err != nil {
		return fmt.Errorf("pod_network_cidr: %w", err)
	}
	if err := validCIDR(k.ServiceCIDR); err != nil {
		return fmt.Errorf("service_cidr: %w", err)
	}
	if !strings.HasPrefix(k.CRISocket, "unix://") && !strings.HasPrefix(k.CRISocket, "/") {
		return fmt.Errorf("cri_socket %q: expected unix:///path", k.CRISocket)
	}
	if k.AdvertiseAddress != "" {
		if _, err := netip.ParseAddr(k.AdvertiseAddress); err != nil {
			return fmt.Errorf("advertise_address %q: expected an IP address", k.AdvertiseAddress)
		}
	}
	if k.BindPort < 1 || k.BindPort > 65535 {
		return fmt.Errorf("bind_port %d out of range", k.BindPort)
	}
	if k.ControlPlaneEndpoint != "" {
		if err := validEndpoint(k.ControlPlaneEndpoint, false); err != nil {
			return fmt.Errorf("control_plane_endpoint: %w", err)
		}
	}
	for _, s := range k.ExtraSANs {
		if s == "" || strings.ContainsAny(s, " /:") && net.ParseIP(s) == nil {
			return fmt.Errorf("extra_sans: %q is neither a DNS name nor an IP", s)
		}
	}
	if !filepath.IsAbs(k.ConfigPath) {
		return fmt.Errorf("config_path %q must be absolute", k.ConfigPath)
	}
	if k.Action == "join" {
		if err := validEndpoint(k.APIServerEndpoint, true); err != nil {
			return fmt.Errorf("api_server_endpoint: %w", err)
		}
		if !tokenRe.MatchString(k.Token) {
			return errors.New("token: expected [a-z0-9]{6}.[a-z0-9]{16} as `kubeadm token create` prints")
		}
		if len(k.CACertHash) == 0 && !k.UnsafeSkipCAVerify {
			return errors.New("join needs discovery_token_ca_cert_hash (or unsafe_skip_ca_verification: true)")
		}
		for _, h := range k.CACertHash {
			if !caHashRe.MatchString(h) {
				return fmt.Errorf("discovery_token_ca_cert_hash %q: expected sha256:<64 hex digits>", h)
			}
		}
	} else if k.Token != "" || k.APIServerEndpoint != "" {
		return errors.New("token and api_server_endpoint only apply to action: join")
	}
	return nil
}

func (k *Kubeadm) params() kubeadmParams {
	return kubeadmParams{
		APIVersion: kubeadmAPIVersion(k.KubernetesVersion), KubernetesVersion: k.KubernetesVersion,
		NodeName: k.NodeName, CRISocket: k.CRISocket, CgroupDriver: k.CgroupDriver,
		AdvertiseAddress: k.AdvertiseAddress, BindPort: k.BindPort, ControlPlaneEndpoint: k.ControlPlaneEndpoint,
		PodSubnet: k.PodNetworkCIDR, ServiceSubnet: k.ServiceCIDR, CertSANs: k.ExtraSANs, ImageRepository: k.ImageRepository,
		IgnorePreflight: k.IgnorePreflight, SkipPhases: k.SkipPhases, KubeletConfig: k.KubeletConfig,
		KubeProxyConfig:   k.KubeProxyConfig,
		APIServerEndpoint: k.APIServerEndpoint, Token: k.Token, CACertHashes: k.CACertHash, UnsafeSkipCA: k.UnsafeSkipCAVerify,
	}
}

// The files kubeadm leaves behind, in the order init creates them.
var kubeadmArtifacts = []string{
	"/etc/kubernetes/pki/ca.crt",
	"/etc/kubernetes/admin.conf",
	"/etc/kubernetes/kubelet.conf",
	"/etc/kubernetes/manifests/etcd.yaml",
	"/etc/kubernetes/manifests/kube-apiserver.yaml",
	"/var/lib/etcd/member",
}

// nodeState is what kubeadm has done on this host.
type nodeState struct {
	found   []string
	missing []string
	healthy bool
	probe   error
}

func (n nodeState) clean() bool { return len(n.found) == 0 }
func (n nodeState) has(p string) bool {
	return hasString(n.found, p)
}

func inspectNode(ctx context.Context, c conn.Conn, port int, wait time.Duration) (nodeState, error) {
	var n nodeState
	for _, p := range kubeadmArtifacts {
		ok, err := exists(ctx, c, p)
		if err != nil {
			return n, err
		}
		if ok {
			n.found = append(n.found, p)
		} else {
			n.missing = append(n.missing, p)
		}
	}
	if !n.has("/etc/kubernetes/manifests/kube-apiserver.yaml") {
		return n, nil
	}
	// After a reboot the kubelet needs a while to bring the static pods back.
	deadline := time.Now().Add(wait)
	for {
		n.probe = apiLivez(ctx, c, port)
		if n.probe == nil {
			n.healthy = true
			return n, nil
		}
		if time.Now().After(deadline) {
			return n, nil
		}
		select {
		case <-ctx.Done():
			return n, ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

// apiLivez asks the API server on the host for /livez through the host
// connection, so it works wherever the connection reaches, firewalls or not.
// The server's certificate is not verified: this only tells up from down.
func apiLivez(ctx context.Context, c conn.Conn, port int) error {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return c.Dial(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		},
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // liveness probe only
	}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://127.0.0.1/livez", nil)
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/livez: HTTP %d %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return nil
}

func (k *Kubeadm) adminConfDest(h modules.Host) (string, error) {
	p := strings.ReplaceAll(k.FetchAdminConf, "{host}", h.Name())
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		p = filepath.Join(home, rest)
	}
	return filepath.Abs(p)
}

func (k *Kubeadm) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	c := h.Conn()
	n, err := inspectNode(ctx, c, k.BindPort, durOr(k.HealthTimeout, time.Minute))
	if err != nil {
		return plan.Diff{}, err
	}
	s := &steps{}
	switch k.Action {
	case "reset":
		err = k.planReset(ctx, c, n, s)
	case "join":
		err = k.planJoin(ctx, c, n, s)
	default:
		err = k.planInit(ctx, h, n, s)
	}
	if err != nil {
		return plan.Diff{}, err
	}
	return s.diff(), nil
}

func (k *Kubeadm) planInit(ctx context.Context, h modules.Host, n nodeState, s *steps) error {
	c := h.Conn()
	cfg, err := k.params().initConfig()
	if err != nil {
		return err
	}
	switch {
	case n.healthy:
		if old, ok, _ := readFile(ctx, c, k.ConfigPath); ok && string(old) != string(cfg) {
			s.note("the control plane is already initialised: changes to its kubeadm configuration are not applied to a running cluster (kubeadm upgrade or reset + init)")
		}
	case !n.clean() && !(len(n.found) == 1 && n.has("/etc/kubernetes/kubelet.conf")):
		return fmt.Errorf("half-finished kubeadm init on this host: found %s; missing %s; the API server on port %d does not answer (%v). "+
			"Look at `journalctl -u kubelet` and `crictl ps -a` to see why; to start over run this task with action: reset, then init again",
			strings.Join(n.found, ", "), orNone(n.missing), k.BindPort, n.probe)
	case n.has("/etc/kubernetes/kubelet.conf"):
		return errors.New("this node has joined a cluster (/etc/kubernetes/kubelet.conf exists): it cannot also init one; use action: reset first")
	default:
		if err := k.checkKubeadmVersion(ctx, h, s); err != nil {
			return err
		}
		if err := fileStep(ctx, c, s, k.ConfigPath, cfg, 0o600, false); err != nil {
			return err
		}
		cmd := "kubeadm init --config " + conn.Quote(k.ConfigPath)
		s.add(plan.Change{Resource: "kubeadm:init", Action: plan.Run, After: cmd},
			func(ctx context.Context, c conn.Conn) error {
				if err := sh(ctx, c, cmd+" >/var/log/gpuctl-kubeadm-init.log 2>&1 || { tail -40 /var/log/gpuctl-kubeadm-init.log >&2; exit 1; }"); err != nil {
					return fmt.Errorf("kubeadm init (full log in /var/log/gpuctl-kubeadm-init.log): %w", err)
				}
				return nil
			})
		// Named so that check mode knows later tasks reading admin.conf (the
		// kube modules) depend on this one.
		s.add(plan.Change{Resource: "file:/etc/kubernetes/admin.conf", Action: plan.Create, After: "written by kubeadm init"}, nil)
		s.note("the node stays NotReady until a CNI (Flannel) is installed")
	}
	if k.FetchAdminConf == "" {
		return nil
	}
	dest, err := k.adminConfDest(h)
	if err != nil {
		return err
	}
	remote, ok, err := readFile(ctx, c, "/etc/kubernetes/admin.conf")
	if err != nil {
		return err
	}
	local, haveLocal, err := readFile(ctx, h.Local(), dest)
	if err != nil {
		return err
	}
	if ok && haveLocal && string(local) == string(remote) {
		if fi, err := h.Local().Stat(ctx, dest); err == nil && fi.Mode.Perm() == 0o600 {
			return nil
		}
	}
	ch := plan.Change{Resource: "local-file:" + dest, Action: plan.Create, Field: "content", After: "admin.conf of " + h.Name(), Sensitive: true}
	if haveLocal {
		ch.Action = plan.Update
	}
	s.add(ch, func(ctx context.Context, c conn.Conn) error {
		data, err := c.ReadFile(ctx, "/etc/kubernetes/admin.conf")
		if err != nil {
			return fmt.Errorf("read admin.conf: %w", err)
		}
		if err := sh(ctx, h.Local(), "mkdir -p -m 0700 "+conn.Quote(filepath.Dir(dest))); err != nil {
			return err
		}
		return h.Local().WriteFile(ctx, dest, data, conn.FileAttrs{Mode: 0o600})
	})
	return nil
}

// checkKubeadmVersion refuses an init kubeadm would refuse: it deploys its
// own minor version or the one before. Without kubeadm it cannot tell yet:
// under --check an earlier task may install it.
func (k *Kubeadm) checkKubeadmVersion(ctx context.Context, h modules.Host, s *steps) error {
	out, err := output(ctx, h.Conn(), "kubeadm version -o short")
	if err != nil {
		return modules.NotYet("kubeadm is not installed (or does not run): run kubernetes_packages first: %w", err)
	}
	have := kubeVersion.FindStringSubmatch(strings.TrimSpace(out))
	want := kubeVersion.FindStringSubmatch(k.KubernetesVersion)
	if have == nil || want == nil {
		return nil
	}
	hm, _ := strconv.Atoi(have[2])
	wm, _ := strconv.Atoi(want[2])
	if hm < wm || hm > wm+1 {
		return fmt.Errorf("kubeadm %s cannot deploy Kubernetes %s (it deploys its own minor version or the one before): install kubeadm 1.%d with kubernetes_packages", strings.TrimSpace(out), k.KubernetesVersion, wm)
	}
	return nil
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "nothing"
	}
	return strings.Join(s, ", ")
}

func (k *Kubeadm) planJoin(ctx context.Context, c conn.Conn, n nodeState, s *steps) error {
	if n.has("/etc/kubernetes/kubelet.conf") {
		return nil // joined (or a control plane): leave it
	}
	if !n.clean() {
		return fmt.Errorf("leftovers of an earlier kubeadm run (%s): run this task with action: reset first", strings.Join(n.found, ", "))
	}
	cfg, err := k.params().joinConfig()
	if err != nil {
		return err
	}
	if err := fileStep(ctx, c, s, k.ConfigPath, cfg, 0o600, true); err != nil {
		return err
	}
	cmd := "kubeadm join --config " + conn.Quote(k.ConfigPath)
	s.add(plan.Change{Resource: "kubeadm:join", Action: plan.Run, After: cmd + " (" + k.APIServerEndpoint + ")"},
		func(ctx context.Context, c conn.Conn) error {
			err := sh(ctx, c, cmd+" >/var/log/gpuctl-kubeadm-join.log 2>&1 || { tail -40 /var/log/gpuctl-kubeadm-join.log >&2; exit 1; }", conn.Redact(k.Token))
			if err != nil {
				return fmt.Errorf("kubeadm join: %w", err)
			}
			// kubeadm returns once the kubelet has its credentials; the Node object follows a few seconds
			// later, and the tasks after a join (labels, taints) need it.
			if err := sh(ctx, c, waitNodeRegistered(k.NodeName)); err != nil {
				return fmt.Errorf("kubeadm join: node not registered with the API server after 2m (journalctl -u kubelet): %w", err)
			}
			return nil
		})
	return nil
}

// waitNodeRegistered polls, with the kubelet's own credentials, until this
// node's Node object exists; without kubectl on the host it does not wait.
func waitNodeRegistered(nodeName string) string {
	name := "$(hostname | tr A-Z a-z)"
	if nodeName != "" {
		name = conn.Quote(strings.ToLower(nodeName))
	}
	return `command -v kubectl >/dev/null || exit 0; for i in $(seq 1 120); do ` +
		`kubectl --kubeconfig /etc/kubernetes/kubelet.conf get node ` + name + ` >/dev/null 2>&1 && exit 0; sleep 1; done; exit 1`
}

func (k *Kubeadm) planReset(ctx context.Context, c conn.Conn, n nodeState, s *steps) error {
	if n.clean() {
		return removeStep(ctx, c, s, k.ConfigPath)
	}
	cmd := "kubeadm reset -f --cri-socket " + conn.Quote(k.CRISocket)
	s.add(plan.Change{Resource: "kubeadm:reset", Action: plan.Run, Before: strings.Join(n.found, ", "), After: cmd},
		func(ctx context.Context, c conn.Conn) error {
			if err := sh(ctx, c, cmd+" >/var/log/gpuctl-kubeadm-reset.log 2>&1 || { tail -40 /var/log/gpuctl-kubeadm-reset.log >&2; exit 1; }"); err != nil {
				return fmt.Errorf("kubeadm reset: %w", err)
			}
			// reset leaves etcd's data directory when etcd is external to it.
			return sh(ctx, c, "rm -rf /var/lib/etcd/member")
		})
	s.note("kubeadm reset leaves CNI configuration (/etc/cni/net.d) and iptables rules in place")
	return removeStep(ctx, c, s, k.ConfigPath)
}

func (k *Kubeadm) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	return applySteps(ctx, h, "kubeadm", d)
}

var _ modules.Module = (*Kubeadm)(nil)
