package kube

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/gpuctl/gpuctl/kubeclient"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:      "device_plugin",
		Summary:   "Install the NVIDIA device plugin and verify nodes advertise nvidia.com/gpu",
		CheckMode: "dry-runs the embedded DaemonSet manifest on the API server and shows the field diff; when nothing would change, verifies the node's nvidia.com/gpu capacity",
		Example: `device_plugin:
  version: v0.18.2
  runtime_class: true`,
		New: func() modules.Module { return &DevicePlugin{} },
	})
}

// GPUResource is the extended resource the NVIDIA device plugin advertises.
const GPUResource corev1.ResourceName = "nvidia.com/gpu"

// DevicePlugin installs the NVIDIA k8s-device-plugin DaemonSet from an
// embedded, pinned manifest. Kubernetes does not see GPUs without it: the
// plugin registers with the kubelet, which then reports nvidia.com/gpu in
// the node's capacity for the scheduler to count.
type DevicePlugin struct {
	Access        `yaml:",squash"`
	Version       string            `yaml:"version" default:"v0.18.2" choices:"v0.18.2,v0.14.5" doc:"embedded plugin version (v0.14.5 is the seed's)"`
	Manifest      string            `yaml:"manifest" doc:"device plugin manifest on the machine gpuctl runs on, instead of the embedded one"`
	RuntimeClass  bool              `yaml:"runtime_class" doc:"also create RuntimeClass nvidia (handler nvidia) and run the plugin with it, for containerd setups where nvidia is not the default runtime"`
	NodeSelector  map[string]string `yaml:"node_selector" doc:"run the plugin only on nodes with these labels (e.g. gpu: \"true\")"`
	Tolerations   []Toleration      `yaml:"tolerations" doc:"extra tolerations for the plugin pods, for taints such as gpu-only that would keep the plugin off the GPU nodes"`
	Node          string            `yaml:"node" doc:"node whose nvidia.com/gpu to verify; default: the host's node"`
	Verify        bool              `yaml:"verify" default:"true" doc:"check that the node advertises nvidia.com/gpu in capacity and allocatable"`
	Timeout       time.Duration     `yaml:"timeout" doc:"how long the DaemonSet rollout may take (default 5m)"`
	VerifyTimeout time.Duration     `yaml:"verify_timeout" doc:"how long the kubelet may take to report the GPUs after the rollout (default 1m)"`
}

func (m *DevicePlugin) Validate() error {
	orDefault(&m.Timeout, 5*time.Minute)
	orDefault(&m.VerifyTimeout, time.Minute)
	return validTolerations(m.Tolerations)
}

func (m *DevicePlugin) objects(ctx context.Context, h modules.Host) ([]*unstructured.Unstructured, error) {
	var data []byte
	source := m.Manifest
	if source != "" {
		d, err := readManifest(ctx, h, source)
		if err != nil {
			return nil, err
		}
		data = d
	} else {
		source = fmt.Sprintf("manifests/nvidia-device-plugin-%s.yaml", m.Version)
		d, err := manifests.ReadFile(source)
		if err != nil {
			return nil, fmt.Errorf("embedded %s: %w", source, err)
		}
		data = d
	}
	objs, err := kubeclient.Decode(source, data)
	if err != nil {
		return nil, err
	}
	ds := daemonSetIn(objs)
	if ds == nil {
		return nil, fmt.Errorf("%s has no DaemonSet", source)
	}
	if len(m.NodeSelector) > 0 {
		sel := map[string]any{}
		for k, v := range m.NodeSelector {
			sel[k] = v
		}
		if err := unstructured.SetNestedMap(ds.Object, sel, "spec", "template", "spec", "nodeSelector"); err != nil {
			return nil, err
		}
	}
	if len(m.Tolerations) > 0 {
		tols, _, _ := unstructured.NestedSlice(ds.Object, "spec", "template", "spec", "tolerations")
		for _, t := range coreTolerations(m.Tolerations) {
			u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&t)
			if err != nil {
				return nil, err
			}
			tols = append(tols, u)
		}
		if err := unstructured.SetNestedSlice(ds.Object, tols, "spec", "template", "spec", "tolerations"); err != nil {
			return nil, err
		}
	}
	if m.RuntimeClass {
		if err := unstructured.SetNestedField(ds.Object, "nvidia", "spec", "template", "spec", "runtimeClassName"); err != nil {
			return nil, err
		}
		rc := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass",
			"metadata": map[string]any{"name": "nvidia"}, "handler": "nvidia",
		}}
		// The class must exist before pods that name it are admitted.
		objs = append([]*unstructured.Unstructured{rc}, objs...)
	}
	return objs, nil
}

func daemonSetIn(objs []*unstructured.Unstructured) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == "DaemonSet" {
			return o
		}
	}
	return nil
}

type pluginState struct {
	client  *kubeclient.Client
	planned []kubeclient.Planned
	ds      *unstructured.Unstructured
	node    string
}

func (m *DevicePlugin) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	objs, err := m.objects(ctx, h)
	if err != nil {
		return plan.Diff{}, err
	}
	c, err := m.client(ctx, h)
	if err != nil {
		return noCluster(h, err)
	}
	d, planned, err := c.Plan(ctx, objs, kubeclient.PlanOptions{})
	if err != nil {
		return d, err
	}
	node, err := nodeName(ctx, h, m.Node)
	if err != nil {
		return d, err
	}
	st := &pluginState{client: c, planned: planned, ds: daemonSetIn(objs), node: node}
	d.State = st
	if !d.Empty() {
		d.Note("nodes advertise nvidia.com/gpu only once the device plugin runs on them")
		return d, nil
	}
	// Nothing to install: the plugin should be doing its job already.
	if err := m.rolledOut(ctx, st); err != nil {
		return d, err
	}
	if m.Verify {
		n, err := c.Kube.CoreV1().Nodes().Get(ctx, st.node, metav1.GetOptions{})
		if err != nil {
			return d, c.Wrap("get", "node/"+st.node, err)
		}
		if !hasGPU(n) {
			return d, fmt.Errorf("node/%s advertises no nvidia.com/gpu although the device plugin is installed:\n%s",
				st.node, m.gpuAbsentReasons(ctx, st))
		}
	}
	return d, nil
}

// rolledOut fails when the installed DaemonSet is not fully available, so a
// crashing plugin is not reported as "ok".
func (m *DevicePlugin) rolledOut(ctx context.Context, st *pluginState) error {
	ns, name := st.ds.GetNamespace(), st.ds.GetName()
	ds, err := st.client.Kube.AppsV1().DaemonSets(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return st.client.Wrap("get", "daemonset/"+ns+"/"+name, err)
	}
	if !kubeclient.DaemonSetRolledOut(ds) {
		return fmt.Errorf("daemonset/%s/%s is installed but not rolled out:\n%s", ns, name, st.client.ExplainDaemonSet(ctx, ns, name))
	}
	return nil
}

func (m *DevicePlugin) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	st, err := modules.StateOf[*pluginState](h, "device_plugin", d)
	if err != nil {
		return err
	}
	c := st.client
	if err := c.Execute(ctx, st.planned, ""); err != nil {
		return err
	}
	ns, name := st.ds.GetNamespace(), st.ds.GetName()
	if err := c.WaitDaemonSet(ctx, ns, name, waitOpts(h, "", m.Timeout, nil)); err != nil {
		return err
	}
	if !m.Verify {
		return nil
	}
	err = kubeclient.Wait(ctx, func(ctx context.Context) (bool, string, error) {
		n, err := c.Kube.CoreV1().Nodes().Get(ctx, st.node, metav1.GetOptions{})
		if err != nil {
			return false, "", c.Wrap("get", "node/"+st.node, err)
		}
		return hasGPU(n), gpuSummary(n), nil
	}, waitOpts(h, "node/"+st.node+" to advertise nvidia.com/gpu", m.VerifyTimeout,
		func(ctx context.Context) string { return m.gpuAbsentReasons(ctx, st) }))
	if err != nil {
		return err
	}
	n, err := c.Kube.CoreV1().Nodes().Get(ctx, st.node, metav1.GetOptions{})
	if err == nil {
		h.Log().Info("node advertises GPUs", "node", st.node, "gpus", gpuSummary(n))
	}
	return nil
}

func hasGPU(n *corev1.Node) bool {
	c, a := n.Status.Capacity[GPUResource], n.Status.Allocatable[GPUResource]
	return !c.IsZero() && !a.IsZero()
}

func gpuSummary(n *corev1.Node) string {
	c, a := n.Status.Capacity[GPUResource], n.Status.Allocatable[GPUResource]
	return fmt.Sprintf("nvidia.com/gpu capacity %s, allocatable %s", c.String(), a.String())
}

// logHints maps what the plugin logs to the usual cause, most specific
// first; the first match is the one reported.
var logHints = []struct{ needle, cause string }{
	{"NVML", "the plugin cannot use NVML (libnvidia-ml.so): the container does not see the NVIDIA driver. Usually the NVIDIA container toolkit is missing or containerd's default runtime is not nvidia (nvidia-ctk runtime configure --runtime=containerd --set-as-default, restart containerd), or set runtime_class: true"},
	{"did you configure the NVIDIA Container Toolkit", "the NVIDIA container runtime is not configured for containerd (nvidia-ctk runtime configure --runtime=containerd)"},
	{"Incompatible platform", "the plugin found neither NVML nor Tegra: the NVIDIA driver is not visible inside the container"},
	{"No devices found", "the driver is loaded but reports no GPU: check nvidia-smi on the host"},
	{"no runtime for \"nvidia\"", "RuntimeClass nvidia names a runtime handler containerd does not have: configure the nvidia runtime in containerd"},
}

// gpuAbsentReasons inspects the plugin pod on the node, its logs and the
// RuntimeClass, and says which usual cause it sees.
func (m *DevicePlugin) gpuAbsentReasons(ctx context.Context, st *pluginState) string {
	c := st.client
	var b strings.Builder
	if n, err := c.Kube.CoreV1().Nodes().Get(ctx, st.node, metav1.GetOptions{}); err == nil {
		fmt.Fprintf(&b, "  node %s: %s\n", st.node, gpuSummary(n))
	}
	ns := st.ds.GetNamespace()
	sel, _, _ := unstructured.NestedStringMap(st.ds.Object, "spec", "selector", "matchLabels")
	var parts []string
	for k, v := range sel {
		parts = append(parts, k+"="+v)
	}
	pods, err := c.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{
		LabelSelector: strings.Join(parts, ","), FieldSelector: "spec.nodeName=" + st.node})
	switch {
	case err != nil:
		fmt.Fprintf(&b, "  cannot list device plugin pods: %v\n", err)
	case len(pods.Items) == 0:
		fmt.Fprintf(&b, "  no device plugin pod runs on node %s: its nodeSelector or the node's taints keep it off\n", st.node)
	default:
		p := &pods.Items[0]
		if p.Status.Phase != corev1.PodRunning || !kubeclient.PodReady(p) {
			b.WriteString(c.ExplainPod(ctx, p.Namespace, p.Name) + "\n")
		}
		tail := int64(50)
		logs, err := c.Kube.CoreV1().Pods(p.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{TailLines: &tail}).DoRaw(ctx)
		if err != nil {
			fmt.Fprintf(&b, "  cannot read logs of pod/%s/%s: %v\n", p.Namespace, p.Name, err)
		} else {
			found := false
			for _, hint := range logHints {
				if strings.Contains(string(logs), hint.needle) {
					fmt.Fprintf(&b, "  likely cause: %s\n  plugin log: %s\n", hint.cause, lineWith(string(logs), hint.needle))
					found = true
					break
				}
			}
			if !found {
				fmt.Fprintf(&b, "  plugin pod/%s/%s log (last lines):\n%s\n", p.Namespace, p.Name, indent(lastLines(string(logs), 10), "    "))
			}
		}
	}
	if _, err := c.Kube.NodeV1().RuntimeClasses().Get(ctx, "nvidia", metav1.GetOptions{}); apierrors.IsNotFound(err) {
		b.WriteString("  RuntimeClass nvidia does not exist: unless containerd's default runtime is nvidia, set runtime_class: true\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

func lineWith(s, needle string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, needle) {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}

var _ modules.Module = (*DevicePlugin)(nil)
