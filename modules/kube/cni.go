package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/gpuctl/gpuctl/kubeclient"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:      "cni",
		Summary:   "Install the Flannel pod network and wait for the node to become Ready",
		CheckMode: "dry-runs the embedded Flannel manifest on the API server, shows the field diff, and notes that the node stays NotReady until a CNI is installed",
		Example: `cni:
  plugin: flannel   # pod CIDR comes from kubeadm's ClusterConfiguration`,
		New: func() modules.Module { return &CNI{} },
	})
}

// flannelDefaultCIDR is the Network the upstream manifest ships with.
const flannelDefaultCIDR = "10.244.0.0/16"

// CNI installs Flannel from a manifest embedded in gpuctl. Until a CNI is
// installed the kubelet reports NetworkReady=false and the node stays
// NotReady (the seed's Day 1 lesson); this module waits until it is Ready.
type CNI struct {
	Access   `yaml:",squash"`
	Plugin   string        `yaml:"plugin" default:"flannel" choices:"flannel" doc:"CNI to install"`
	Version  string        `yaml:"version" default:"v0.28.10" choices:"v0.28.10" doc:"embedded Flannel version"`
	PodCIDR  string        `yaml:"pod_cidr" doc:"pod network; default: networking.podSubnet of kubeadm's ClusterConfiguration, else 10.244.0.0/16. Must agree with kubeadm's when both are set"`
	Manifest string        `yaml:"manifest" doc:"Flannel manifest file on the machine gpuctl runs on, instead of the embedded one (e.g. with images from a private registry); its net-conf.json Network is set to the pod CIDR too"`
	Node     string        `yaml:"node" doc:"node to wait for; default: the host's node"`
	Wait     bool          `yaml:"wait" default:"true" doc:"wait until the node is Ready"`
	Timeout  time.Duration `yaml:"timeout" doc:"how long the node may take to become Ready (default 5m)"`
}

func (m *CNI) Validate() error {
	orDefault(&m.Timeout, 5*time.Minute)
	if m.PodCIDR != "" {
		if _, err := netip.ParsePrefix(m.PodCIDR); err != nil {
			return fmt.Errorf("pod_cidr: %w", err)
		}
	}
	return nil
}

// kubeadmPodSubnet reads networking.podSubnet from the ClusterConfiguration
// kubeadm stores in kube-system/kubeadm-config; "" when there is none.
func kubeadmPodSubnet(ctx context.Context, c *kubeclient.Client) (string, error) {
	cm, err := c.Kube.CoreV1().ConfigMaps("kube-system").Get(ctx, "kubeadm-config", metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", c.Wrap("get", "configmap/kube-system/kubeadm-config", err)
	}
	var cc struct {
		Networking struct {
			PodSubnet string `json:"podSubnet"`
		} `json:"networking"`
	}
	if err := yaml.Unmarshal([]byte(cm.Data["ClusterConfiguration"]), &cc); err != nil {
		return "", fmt.Errorf("configmap/kube-system/kubeadm-config: ClusterConfiguration: %w", err)
	}
	return cc.Networking.PodSubnet, nil
}

func (m *CNI) podCIDR(ctx context.Context, c *kubeclient.Client) (string, error) {
	fromKubeadm, err := kubeadmPodSubnet(ctx, c)
	if err != nil {
		return "", err
	}
	// kubeadm may list an IPv4 and an IPv6 subnet; Flannel's Network is the IPv4 one.
	fromKubeadm, _, _ = strings.Cut(fromKubeadm, ",")
	switch {
	case m.PodCIDR != "" && fromKubeadm != "" && m.PodCIDR != fromKubeadm:
		return "", fmt.Errorf("pod_cidr %s disagrees with kubeadm's podSubnet %s (kube-system/kubeadm-config): pods would get addresses the node's podCIDR does not cover", m.PodCIDR, fromKubeadm)
	case m.PodCIDR != "":
		return m.PodCIDR, nil
	case fromKubeadm != "":
		return fromKubeadm, nil
	}
	return flannelDefaultCIDR, nil
}

func (m *CNI) manifest(ctx context.Context, h modules.Host) ([]byte, string, error) {
	if m.Manifest != "" {
		data, err := readManifest(ctx, h, m.Manifest)
		return data, m.Manifest, err
	}
	name := fmt.Sprintf("manifests/flannel-%s.yaml", m.Version)
	data, err := manifests.ReadFile(name)
	if err != nil {
		return nil, "", fmt.Errorf("embedded %s: %w", name, err)
	}
	return data, "flannel " + m.Version, nil
}

// setNetwork points Flannel's net-conf.json at the pod CIDR, in the
// embedded manifest and in a user's alike, so Flannel and kubeadm cannot
// disagree. Only the Network value is edited: the rest of the text stays as
// written, so a later run compares equal.
func setNetwork(source string, objs []*unstructured.Unstructured, cidr string) error {
	for _, o := range objs {
		if o.GetKind() != "ConfigMap" {
			continue
		}
		conf, found, _ := unstructured.NestedString(o.Object, "data", "net-conf.json")
		if !found {
			continue
		}
		var nc struct{ Network string }
		if err := json.Unmarshal([]byte(conf), &nc); err != nil {
			return fmt.Errorf("%s: %s net-conf.json: %w", source, kubeclient.Ref(o), err)
		}
		if nc.Network != cidr {
			conf = strings.Replace(conf, fmt.Sprintf("%q", nc.Network), fmt.Sprintf("%q", cidr), 1)
			if err := unstructured.SetNestedField(o.Object, conf, "data", "net-conf.json"); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("%s: no ConfigMap with net-conf.json to set the pod CIDR in", source)
}

type cniState struct {
	client  *kubeclient.Client
	planned []kubeclient.Planned
	node    string
	ready   bool
}

func (m *CNI) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	var d plan.Diff
	c, err := m.client(ctx, h)
	if err != nil {
		return noCluster(h, err)
	}
	cidr, err := m.podCIDR(ctx, c)
	if err != nil {
		return d, err
	}
	data, source, err := m.manifest(ctx, h)
	if err != nil {
		return d, err
	}
	objs, err := kubeclient.Decode(source, data)
	if err != nil {
		return d, err
	}
	if err := setNetwork(source, objs, cidr); err != nil {
		return d, err
	}
	d, planned, err := c.Plan(ctx, objs, kubeclient.PlanOptions{})
	if err != nil {
		return d, err
	}
	node, err := nodeName(ctx, h, m.Node)
	if err != nil {
		return d, err
	}
	st := &cniState{client: c, planned: planned, node: node}
	n, err := c.Kube.CoreV1().Nodes().Get(ctx, st.node, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		d.Note(fmt.Sprintf("node %s is not registered yet", st.node))
	case err != nil:
		return d, c.Wrap("get", "node/"+st.node, err)
	default:
		st.ready = kubeclient.NodeReady(n)
		if !st.ready {
			d.Note(fmt.Sprintf("node %s is %s: a node stays NotReady until a CNI is installed", st.node, kubeclient.NodeStatus(n)))
			if m.Wait && d.Empty() {
				// Flannel is in place but the node is not Ready: waiting
				// is the change still owed.
				d.Add(plan.Change{Resource: "node/" + st.node, Action: plan.Update, Field: "condition Ready", Before: "False", After: "True (wait)"})
			}
		}
	}
	if !d.Empty() {
		d.Note(fmt.Sprintf("flannel pod network %s", cidr))
	}
	d.State = st
	return d, nil
}

func (m *CNI) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	st, err := modules.StateOf[*cniState](h, "cni", d)
	if err != nil {
		return err
	}
	if err := st.client.Execute(ctx, st.planned, ""); err != nil {
		return err
	}
	if !m.Wait || st.ready {
		return nil
	}
	h.Log().Info("node NotReady until a CNI is installed; waiting for flannel", "node", st.node)
	c := st.client
	return c.WaitNodeReady(ctx, st.node, waitOpts(h, "node/"+st.node+" Ready after installing flannel", m.Timeout,
		func(ctx context.Context) string {
			why := c.ExplainNode(ctx, st.node)
			if ds := daemonSetOf(st.planned); ds != nil {
				why += "\n" + c.ExplainDaemonSet(ctx, ds.GetNamespace(), ds.GetName())
			}
			return why
		}))
}

// daemonSetOf finds the manifest's DaemonSet, the part that does the work.
func daemonSetOf(planned []kubeclient.Planned) *unstructured.Unstructured {
	for _, p := range planned {
		if p.Object.GetKind() == "DaemonSet" {
			return p.Object
		}
	}
	return nil
}

var _ modules.Module = (*CNI)(nil)
