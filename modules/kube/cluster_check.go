package kube

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gpuctl/gpuctl/kubeclient"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:      "cluster_check",
		Summary:   "Validate the cluster against the seed's checklists, each item pass/fail/skip with evidence",
		CheckMode: "evaluates the read-only items (nodes, system pods, device plugin, GPU capacity) and shows them as notes; runs no pods",
		Example: `cluster_check:
  taint: gpu-only=true:NoSchedule
  selector: gpu=true`,
		New: func() modules.Module { return &ClusterCheck{} },
	})
}

// Check items, in the order of the seed's checklists.
var checkItems = []string{"nodes_ready", "system_pods", "device_plugin", "gpu_capacity", "gpu_pod", "node_selector", "taint"}

// gpuItems are skipped on a GPU-less cluster when gpu is auto.
var gpuItems = []string{"device_plugin", "gpu_capacity", "gpu_pod"}

// podItems need pods, so they run only in Apply.
var podItems = []string{"gpu_pod", "node_selector", "taint"}

// ClusterCheck validates a cluster. Read-only items look at nodes and pods;
// the scheduling items create short-lived pods and observe where the
// scheduler puts them (or that it refuses to), then delete them.
type ClusterCheck struct {
	Access     `yaml:",squash"`
	Checks     []string      `yaml:"checks" doc:"items to run (default all): nodes_ready, system_pods, device_plugin, gpu_capacity, gpu_pod, node_selector, taint"`
	GPU        string        `yaml:"gpu" default:"auto" choices:"auto,true,false" doc:"auto skips the GPU items when no node advertises nvidia.com/gpu; true fails them; false skips them"`
	Selector   string        `yaml:"selector" default:"gpu=true" doc:"label (key=value) that a nodeSelector pod must land on when some node has it"`
	Taint      string        `yaml:"taint" default:"gpu-only=true:NoSchedule" doc:"taint (key=value:Effect) whose enforcement is checked on the nodes that have it"`
	Namespace  string        `yaml:"namespace" default:"default" doc:"namespace for the check pods"`
	ProbeImage string        `yaml:"probe_image" default:"registry.k8s.io/pause:3.10" doc:"image of the scheduling probe pods (only scheduled, never needs to run)"`
	GPUPod     GPUTestPod    `yaml:"gpu_pod" doc:"arguments of the GPU test pod, as for gpu_test_pod"`
	Timeout    time.Duration `yaml:"timeout" doc:"time limit for each item (default 2m)"`
	// FailOnSkip makes a skipped item fail the task.
	FailOnSkip bool `yaml:"fail_on_skip" doc:"treat skipped items as failures"`

	selKey, selVal string
	taint          corev1.Taint
	items          []CheckResult
}

// CheckResult is one item's outcome.
type CheckResult struct {
	Name     string `json:"name"`
	Status   string `json:"status"` // pass, fail, skip
	Evidence string `json:"evidence"`
}

func (m *ClusterCheck) Validate() error {
	orDefault(&m.Timeout, 2*time.Minute)
	if len(m.Checks) == 0 {
		m.Checks = checkItems
	}
	for _, c := range m.Checks {
		if !slices.Contains(checkItems, c) {
			return fmt.Errorf("checks: unknown item %q (known: %s)", c, strings.Join(checkItems, ", "))
		}
	}
	var ok bool
	if m.selKey, m.selVal, ok = strings.Cut(m.Selector, "="); !ok || m.selKey == "" {
		return fmt.Errorf("selector %q: expected key=value", m.Selector)
	}
	t, err := parseTaint(m.Taint)
	if err != nil {
		return fmt.Errorf("taint: %w", err)
	}
	m.taint = t
	// The embedded gpu_pod arguments get gpu_test_pod's defaults.
	if err := modules.Decode(map[string]any{}, &m.GPUPod); err != nil {
		return err
	}
	return m.GPUPod.Validate()
}

func parseTaint(s string) (corev1.Taint, error) {
	kv, effect, ok := strings.Cut(s, ":")
	if !ok {
		return corev1.Taint{}, fmt.Errorf("%q: expected key[=value]:Effect", s)
	}
	k, v, _ := strings.Cut(kv, "=")
	switch corev1.TaintEffect(effect) {
	case corev1.TaintEffectNoSchedule, corev1.TaintEffectNoExecute:
	default:
		return corev1.Taint{}, fmt.Errorf("%q: effect must be NoSchedule or NoExecute (PreferNoSchedule is not enforced)", s)
	}
	return corev1.Taint{Key: k, Value: v, Effect: corev1.TaintEffect(effect)}, nil
}

type checkState struct{ client *kubeclient.Client }

func (m *ClusterCheck) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	var d plan.Diff
	c, err := m.client(ctx, h)
	if err != nil {
		return noCluster(h, err)
	}
	d.State = &checkState{client: c}
	results, err := m.run(ctx, h, c, false)
	if err != nil {
		return d, err
	}
	var pods []string
	for _, r := range results {
		if r.Status == "pending" {
			pods = append(pods, r.Name)
			continue
		}
		d.Note(fmt.Sprintf("%s %s: %s", strings.ToUpper(r.Status), r.Name, r.Evidence))
	}
	after := "validate " + strings.Join(m.Checks, ", ")
	if len(pods) > 0 {
		after += " (runs probe pods for " + strings.Join(pods, ", ") + ")"
	}
	d.Add(plan.Change{Resource: "cluster", Action: plan.Run, After: after})
	return d, nil
}

func (m *ClusterCheck) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	st, err := modules.StateOf[*checkState](h, "cluster_check", d)
	if err != nil {
		return err
	}
	results, err := m.run(ctx, h, st.client, true)
	m.items = results
	if err != nil {
		return err
	}
	var failed []string
	for _, r := range results {
		h.Log().Info("cluster check", "item", r.Name, "status", r.Status, "evidence", r.Evidence)
		if r.Status == "fail" || (r.Status == "skip" && m.FailOnSkip) {
			failed = append(failed, fmt.Sprintf("  %s %s: %s", strings.ToUpper(r.Status), r.Name, r.Evidence))
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d cluster checks failed:\n%s", len(failed), len(results), strings.Join(failed, "\n"))
	}
	return nil
}

// run evaluates the selected items; pod items are "pending" unless withPods.
func (m *ClusterCheck) run(ctx context.Context, h modules.Host, c *kubeclient.Client, withPods bool) ([]CheckResult, error) {
	nodes, err := c.Kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, c.Wrap("list", "nodes", err)
	}
	gpuNodes := nodesWithGPU(nodes.Items)
	var out []CheckResult
	for _, item := range checkItems {
		if !slices.Contains(m.Checks, item) {
			continue
		}
		r := CheckResult{Name: item}
		switch {
		case slices.Contains(gpuItems, item) && m.GPU == "false":
			r.Status, r.Evidence = "skip", "GPU checks disabled (gpu: false)"
		case slices.Contains(gpuItems, item) && m.GPU == "auto" && len(gpuNodes) == 0:
			r.Status, r.Evidence = "skip", "no node advertises nvidia.com/gpu (GPU-less cluster)"
		case slices.Contains(podItems, item) && !withPods:
			r.Status = "pending"
		default:
			ictx, cancel := context.WithTimeout(ctx, m.Timeout+30*time.Second)
			r.Status, r.Evidence = m.item(ictx, h, c, item, nodes.Items)
			cancel()
		}
		out = append(out, r)
	}
	return out, nil
}

func (m *ClusterCheck) item(ctx context.Context, h modules.Host, c *kubeclient.Client, item string, nodes []corev1.Node) (string, string) {
	var ok bool
	var ev string
	switch item {
	case "nodes_ready":
		ok, ev = checkNodesReady(nodes)
	case "system_pods":
		ok, ev = checkSystemPods(ctx, c)
	case "device_plugin":
		ok, ev = checkDevicePlugin(ctx, c)
	case "gpu_capacity":
		ok, ev = checkGPUCapacity(nodes)
	case "gpu_pod":
		ok, ev = m.checkGPUPod(ctx, h, c)
	case "node_selector":
		ok, ev = m.checkNodeSelector(ctx, h, c, nodes)
	case "taint":
		return m.checkTaint(ctx, h, c, nodes)
	}
	if ok {
		return "pass", ev
	}
	return "fail", ev
}

func checkNodesReady(nodes []corev1.Node) (bool, string) {
	if len(nodes) == 0 {
		return false, "no nodes registered"
	}
	var ready, not []string
	for i := range nodes {
		if kubeclient.NodeReady(&nodes[i]) {
			ready = append(ready, nodes[i].Name)
		} else {
			not = append(not, nodes[i].Name+" "+kubeclient.NodeStatus(&nodes[i]))
		}
	}
	if len(not) > 0 {
		return false, fmt.Sprintf("%d/%d Ready; not Ready: %s", len(ready), len(nodes), strings.Join(not, "; "))
	}
	return true, fmt.Sprintf("%d/%d Ready: %s", len(ready), len(nodes), strings.Join(ready, ", "))
}

func checkSystemPods(ctx context.Context, c *kubeclient.Client) (bool, string) {
	pods, err := c.Kube.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{})
	if err != nil {
		return false, c.Wrap("list", "pods in kube-system", err).Error()
	}
	var bad []string
	for i := range pods.Items {
		p := &pods.Items[i]
		switch {
		case p.Status.Phase == corev1.PodSucceeded:
		case p.Status.Phase == corev1.PodRunning && kubeclient.PodReady(p):
		default:
			bad = append(bad, p.Name+" "+kubeclient.PodProgress(p))
		}
	}
	if len(bad) > 0 {
		return false, fmt.Sprintf("%d/%d running; not running: %s", len(pods.Items)-len(bad), len(pods.Items), strings.Join(bad, "; "))
	}
	return true, fmt.Sprintf("%d/%d pods in kube-system running", len(pods.Items), len(pods.Items))
}

func checkDevicePlugin(ctx context.Context, c *kubeclient.Client) (bool, string) {
	dss, err := c.Kube.AppsV1().DaemonSets("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return false, c.Wrap("list", "daemonsets", err).Error()
	}
	for i := range dss.Items {
		ds := &dss.Items[i]
		if !strings.Contains(ds.Name, "nvidia-device-plugin") {
			continue
		}
		ev := fmt.Sprintf("daemonset/%s/%s: %s", ds.Namespace, ds.Name, kubeclient.DaemonSetProgress(ds))
		return kubeclient.DaemonSetRolledOut(ds) && ds.Status.NumberAvailable > 0, ev
	}
	return false, "no nvidia-device-plugin DaemonSet in any namespace (run the device_plugin module)"
}

func nodesWithGPU(nodes []corev1.Node) []string {
	var out []string
	for i := range nodes {
		if hasGPU(&nodes[i]) {
			out = append(out, nodes[i].Name)
		}
	}
	return out
}

func checkGPUCapacity(nodes []corev1.Node) (bool, string) {
	var ev []string
	for i := range nodes {
		if hasGPU(&nodes[i]) {
			ev = append(ev, nodes[i].Name+" "+gpuSummary(&nodes[i]))
		}
	}
	if len(ev) == 0 {
		return false, "no node advertises nvidia.com/gpu"
	}
	return true, strings.Join(ev, "; ")
}

func (m *ClusterCheck) checkGPUPod(ctx context.Context, h modules.Host, c *kubeclient.Client) (bool, string) {
	p := m.GPUPod
	p.Access = m.Access
	total, free, holders, err := m.gpuHolders(ctx, c, p.NodeSelector)
	if err == nil && total > 0 && free <= 0 {
		ok, ev := m.keptGPUPod(ctx, c, &p)
		return ok, fmt.Sprintf("no free GPU for a new test pod (all %d held by %s); %s", total, strings.Join(holders, ", "), ev)
	}
	p.Name, p.Namespace, p.Keep = "gpuctl-check-gpu", m.Namespace, false
	if p.Timeout > m.Timeout {
		p.Timeout = m.Timeout
	}
	d := plan.Diff{State: &podState{client: c}}
	if err := p.Apply(ctx, h, d); err != nil {
		return false, err.Error()
	}
	return true, p.Message()
}

// probe creates a pod that only needs scheduling, and returns the
// scheduler's decision; the pod is deleted afterwards.
func (m *ClusterCheck) probe(ctx context.Context, h modules.Host, c *kubeclient.Client, name string, sel map[string]string, tol []corev1.Toleration) (node, msg string, err error) {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: m.Namespace, Labels: map[string]string{"app.kubernetes.io/managed-by": "gpuctl"}},
		Spec: corev1.PodSpec{
			Containers:    []corev1.Container{{Name: "probe", Image: m.ProbeImage}},
			RestartPolicy: corev1.RestartPolicyNever,
			NodeSelector:  sel,
			Tolerations:   tol,
		},
	}
	if err := replacePod(ctx, h, c, p); err != nil {
		return "", "", err
	}
	defer deletePod(context.WithoutCancel(ctx), h, c, m.Namespace, name, time.Minute) //nolint:errcheck // best effort; the verdict is what matters
	return waitScheduled(ctx, h, c, m.Namespace, name, m.Timeout)
}

// tolerateAll lets a probe ignore taints that are not under test.
var tolerateAll = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}

func (m *ClusterCheck) checkNodeSelector(ctx context.Context, h modules.Host, c *kubeclient.Client, nodes []corev1.Node) (bool, string) {
	// A label no node has: the scheduler must refuse the pod.
	node, msg, err := m.probe(ctx, h, c, "gpuctl-check-selector-none", map[string]string{"gpuctl.io/no-such-label": "true"}, tolerateAll)
	if err != nil {
		return false, err.Error()
	}
	if node != "" {
		return false, fmt.Sprintf("pod selecting gpuctl.io/no-such-label=true was bound to node %s", node)
	}
	ev := fmt.Sprintf("pod selecting a label no node has stays Pending (%s)", msg)
	var labelled []string
	for _, n := range nodes {
		if n.Labels[m.selKey] == m.selVal {
			labelled = append(labelled, n.Name)
		}
	}
	if len(labelled) == 0 {
		return true, ev + fmt.Sprintf("; no node is labelled %s, so placement onto one was not tested", m.Selector)
	}
	node, msg, err = m.probe(ctx, h, c, "gpuctl-check-selector", map[string]string{m.selKey: m.selVal}, tolerateAll)
	if err != nil {
		return false, err.Error()
	}
	if !slices.Contains(labelled, node) {
		return false, ev + fmt.Sprintf("; pod selecting %s was not placed on a labelled node (%s): %s", m.Selector, strings.Join(labelled, ", "), orUnscheduled(node, msg))
	}
	return true, ev + fmt.Sprintf("; pod selecting %s bound to %s", m.Selector, node)
}

func (m *ClusterCheck) checkTaint(ctx context.Context, h modules.Host, c *kubeclient.Client, nodes []corev1.Node) (string, string) {
	var target *corev1.Node
	for i := range nodes {
		for _, t := range nodes[i].Spec.Taints {
			if t.Key == m.taint.Key && t.Value == m.taint.Value && t.Effect == m.taint.Effect {
				target = &nodes[i]
			}
		}
		if target != nil {
			break
		}
	}
	if target == nil {
		return "skip", fmt.Sprintf("no node has taint %s", m.Taint)
	}
	pin := map[string]string{"kubernetes.io/hostname": target.Labels["kubernetes.io/hostname"]}
	if pin["kubernetes.io/hostname"] == "" {
		pin["kubernetes.io/hostname"] = target.Name
	}
	// Both probes tolerate the node's other taints, so only the taint
	// under test can keep the first one off.
	var others, all []corev1.Toleration
	for _, t := range target.Spec.Taints {
		tol := corev1.Toleration{Key: t.Key, Operator: corev1.TolerationOpEqual, Value: t.Value, Effect: t.Effect}
		all = append(all, tol)
		if !(t.Key == m.taint.Key && t.Effect == m.taint.Effect) {
			others = append(others, tol)
		}
	}
	node, msg, err := m.probe(ctx, h, c, "gpuctl-check-taint-without", pin, others)
	if err != nil {
		return "fail", err.Error()
	}
	if node != "" {
		return "fail", fmt.Sprintf("pod without toleration for %s was bound to %s", m.Taint, node)
	}
	ev := fmt.Sprintf("pod without toleration kept off %s (%s)", target.Name, msg)
	node, msg, err = m.probe(ctx, h, c, "gpuctl-check-taint-with", pin, all)
	if err != nil {
		return "fail", err.Error()
	}
	if node != target.Name {
		return "fail", ev + fmt.Sprintf("; pod with the toleration was not scheduled onto %s: %s", target.Name, orUnscheduled(node, msg))
	}
	return "pass", ev + fmt.Sprintf("; pod with the toleration bound to %s", node)
}

func orUnscheduled(node, msg string) string {
	if node != "" {
		return "bound to " + node
	}
	return "unschedulable: " + msg
}

// Result exposes every item to register.
func (m *ClusterCheck) Result() map[string]any {
	items := make([]any, len(m.items))
	passed := true
	for i, r := range m.items {
		items[i] = map[string]any{"name": r.Name, "status": r.Status, "evidence": r.Evidence}
		if r.Status == "fail" {
			passed = false
		}
	}
	return map[string]any{"items": items, "passed": passed}
}

// Message is the report: one line per item.
func (m *ClusterCheck) Message() string {
	var b strings.Builder
	for _, r := range m.items {
		fmt.Fprintf(&b, "%-4s %-13s %s\n", strings.ToUpper(r.Status), r.Name, r.Evidence)
	}
	return strings.TrimRight(b.String(), "\n")
}

// Unverified: validation leaves nothing behind for a second check to see.
func (m *ClusterCheck) Unverified() bool { return true }

var (
	_ modules.Module     = (*ClusterCheck)(nil)
	_ modules.Resulter   = (*ClusterCheck)(nil)
	_ modules.Messager   = (*ClusterCheck)(nil)
	_ modules.Unverified = (*ClusterCheck)(nil)
)
