package kubeclient

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// maxEvents bounds how many events an explanation quotes.
const maxEvents = 6

// ExplainPod describes why a pod is not where it should be: phase and node,
// failing conditions (the scheduler's reason lives there), each container's
// waiting or terminated state, and the pod's latest events.
func (c *Client) ExplainPod(ctx context.Context, ns, name string) string {
	p, err := c.Kube.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Sprintf("  pod/%s/%s: %v", ns, name, err)
	}
	return c.explainPod(ctx, p)
}

func (c *Client) explainPod(ctx context.Context, p *corev1.Pod) string {
	var b strings.Builder
	node := p.Spec.NodeName
	if node == "" {
		node = "(not scheduled)"
	}
	fmt.Fprintf(&b, "  pod/%s/%s: phase %s, node %s\n", p.Namespace, p.Name, p.Status.Phase, node)
	for _, cond := range p.Status.Conditions {
		if cond.Status != corev1.ConditionTrue && (cond.Reason != "" || cond.Message != "") {
			fmt.Fprintf(&b, "    condition %s=%s %s: %s\n", cond.Type, cond.Status, cond.Reason, cond.Message)
		}
	}
	statuses := append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...)
	for _, cs := range statuses {
		switch {
		case cs.State.Waiting != nil:
			fmt.Fprintf(&b, "    container %s waiting: %s %s\n", cs.Name, cs.State.Waiting.Reason, cs.State.Waiting.Message)
		case cs.State.Terminated != nil && cs.State.Terminated.ExitCode != 0:
			fmt.Fprintf(&b, "    container %s terminated: %s exit code %d %s\n", cs.Name, cs.State.Terminated.Reason, cs.State.Terminated.ExitCode, cs.State.Terminated.Message)
		}
	}
	b.WriteString(c.events(ctx, p.Namespace, "Pod", p.Name))
	return strings.TrimRight(b.String(), "\n")
}

// ExplainNode lists a node's conditions that are not nominal and its taints.
func (c *Client) ExplainNode(ctx context.Context, name string) string {
	n, err := c.Kube.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Sprintf("  node/%s: %v", name, err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "  node/%s:\n", name)
	for _, cond := range n.Status.Conditions {
		nominal := cond.Status == corev1.ConditionFalse
		if cond.Type == corev1.NodeReady {
			nominal = cond.Status == corev1.ConditionTrue
		}
		if !nominal {
			fmt.Fprintf(&b, "    condition %s=%s %s: %s\n", cond.Type, cond.Status, cond.Reason, cond.Message)
		}
	}
	if len(n.Status.Conditions) == 0 {
		b.WriteString("    no conditions reported: is the kubelet running on this node?\n")
	}
	for _, t := range n.Spec.Taints {
		fmt.Fprintf(&b, "    taint %s\n", TaintString(t))
	}
	b.WriteString(c.events(ctx, "", "Node", name))
	return strings.TrimRight(b.String(), "\n")
}

// ExplainDaemonSet gives the rollout counts and explains the first pod that
// is not ready.
func (c *Client) ExplainDaemonSet(ctx context.Context, ns, name string) string {
	ds, err := c.Kube.AppsV1().DaemonSets(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Sprintf("  daemonset/%s/%s: %v", ns, name, err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "  daemonset/%s/%s: %s\n", ns, name, DaemonSetProgress(ds))
	if ds.Status.DesiredNumberScheduled == 0 {
		b.WriteString("    no node matches its nodeSelector, affinity and tolerations\n")
	}
	sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err == nil {
		pods, err := c.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
		if err == nil {
			for i := range pods.Items {
				if !PodReady(&pods.Items[i]) {
					b.WriteString(c.explainPod(ctx, &pods.Items[i]) + "\n")
					break
				}
			}
		}
	}
	b.WriteString(c.events(ctx, ns, "DaemonSet", name))
	return strings.TrimRight(b.String(), "\n")
}

func (c *Client) events(ctx context.Context, ns, kind, name string) string {
	sel := labels.Set{"involvedObject.kind": kind, "involvedObject.name": name}.AsSelector().String()
	evs, err := c.Kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: sel})
	if err != nil || len(evs.Items) == 0 {
		return ""
	}
	items := evs.Items
	sort.Slice(items, func(i, j int) bool { return eventTime(&items[i]).Before(eventTime(&items[j])) })
	if len(items) > maxEvents {
		items = items[len(items)-maxEvents:]
	}
	var b strings.Builder
	b.WriteString("    events:\n")
	for _, e := range items {
		fmt.Fprintf(&b, "      %s %s: %s\n", e.Type, e.Reason, strings.TrimSpace(e.Message))
	}
	return b.String()
}

func eventTime(e *corev1.Event) time.Time {
	if !e.LastTimestamp.IsZero() {
		return e.LastTimestamp.Time
	}
	if !e.EventTime.IsZero() {
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}

// PodReady reports the pod's Ready condition.
func PodReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// NodeReady reports the node's Ready condition.
func NodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// DaemonSetRolledOut is kubectl rollout status's test for a DaemonSet.
func DaemonSetRolledOut(ds *appsv1.DaemonSet) bool {
	s := ds.Status
	return s.ObservedGeneration >= ds.Generation &&
		s.UpdatedNumberScheduled == s.DesiredNumberScheduled &&
		s.NumberAvailable == s.DesiredNumberScheduled
}

// DaemonSetProgress is a one-line rollout summary.
func DaemonSetProgress(ds *appsv1.DaemonSet) string {
	s := ds.Status
	return fmt.Sprintf("%d desired, %d scheduled, %d updated, %d ready, %d available",
		s.DesiredNumberScheduled, s.CurrentNumberScheduled, s.UpdatedNumberScheduled, s.NumberReady, s.NumberAvailable)
}

// TaintString renders a taint as kubectl does: key=value:Effect.
func TaintString(t corev1.Taint) string {
	if t.Value == "" {
		return t.Key + ":" + string(t.Effect)
	}
	return t.Key + "=" + t.Value + ":" + string(t.Effect)
}
