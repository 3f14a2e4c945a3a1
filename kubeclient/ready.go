package kubeclient

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// WaitNodeReady waits until the node reports Ready=True.
func (c *Client) WaitNodeReady(ctx context.Context, name string, o WaitOptions) error {
	if o.What == "" {
		o.What = "node/" + name + " Ready"
	}
	if o.Explain == nil {
		o.Explain = func(ctx context.Context) string { return c.ExplainNode(ctx, name) }
	}
	return Wait(ctx, func(ctx context.Context) (bool, string, error) {
		n, err := c.Kube.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, "node not registered yet", nil
		}
		if err != nil {
			return false, "", err
		}
		return NodeReady(n), NodeStatus(n), nil
	}, o)
}

// NodeStatus is a one-line Ready condition summary.
func NodeStatus(n *corev1.Node) string {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			if c.Status == corev1.ConditionTrue {
				return "Ready"
			}
			return fmt.Sprintf("NotReady (%s: %s)", c.Reason, c.Message)
		}
	}
	return "NotReady (no Ready condition reported yet)"
}

// WaitDaemonSet waits until a DaemonSet is rolled out on every node it
// targets, as kubectl rollout status does.
func (c *Client) WaitDaemonSet(ctx context.Context, ns, name string, o WaitOptions) error {
	if o.What == "" {
		o.What = "daemonset/" + ns + "/" + name + " rollout"
	}
	if o.Explain == nil {
		o.Explain = func(ctx context.Context) string { return c.ExplainDaemonSet(ctx, ns, name) }
	}
	return Wait(ctx, func(ctx context.Context) (bool, string, error) {
		ds, err := c.Kube.AppsV1().DaemonSets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, "", c.Wrap("get", "daemonset/"+ns+"/"+name, err)
		}
		// A DaemonSet with nothing to run is rolled out, but so is one
		// the controller has not looked at yet; observedGeneration tells.
		return DaemonSetRolledOut(ds), DaemonSetProgress(ds), nil
	}, o)
}

// WaitDeployment waits until all replicas are updated and available.
func (c *Client) WaitDeployment(ctx context.Context, ns, name string, o WaitOptions) error {
	if o.What == "" {
		o.What = "deployment/" + ns + "/" + name + " rollout"
	}
	return Wait(ctx, func(ctx context.Context) (bool, string, error) {
		d, err := c.Kube.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, "", c.Wrap("get", "deployment/"+ns+"/"+name, err)
		}
		want := int32(1)
		if d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		s := d.Status
		done := s.ObservedGeneration >= d.Generation && s.UpdatedReplicas == want && s.AvailableReplicas == want && s.Replicas == want
		return done, fmt.Sprintf("%d/%d updated, %d available", s.UpdatedReplicas, want, s.AvailableReplicas), nil
	}, o)
}

// WaitPod waits until the pod is in one of the phases given, explaining
// the pod on timeout.
func (c *Client) WaitPod(ctx context.Context, ns, name string, o WaitOptions, phases ...corev1.PodPhase) (*corev1.Pod, error) {
	if o.What == "" {
		var want []string
		for _, ph := range phases {
			want = append(want, string(ph))
		}
		o.What = fmt.Sprintf("pod/%s/%s %s", ns, name, strings.Join(want, " or "))
	}
	if o.Explain == nil {
		o.Explain = func(ctx context.Context) string { return c.ExplainPod(ctx, ns, name) }
	}
	var last *corev1.Pod
	err := Wait(ctx, func(ctx context.Context) (bool, string, error) {
		p, err := c.Kube.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, "", c.Wrap("get", "pod/"+ns+"/"+name, err)
		}
		last = p
		for _, ph := range phases {
			if p.Status.Phase == ph {
				return true, "", nil
			}
		}
		return false, PodProgress(p), nil
	}, o)
	return last, err
}

// PodProgress is a one-line pod state: phase, node and the first reason it
// is not running.
func PodProgress(p *corev1.Pod) string {
	s := string(p.Status.Phase)
	if p.Spec.NodeName != "" {
		s += " on " + p.Spec.NodeName
	}
	for _, cond := range p.Status.Conditions {
		if cond.Type == corev1.PodScheduled && cond.Status == corev1.ConditionFalse {
			return s + ", unschedulable: " + cond.Message
		}
	}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.State.Waiting != nil && cs.State.Waiting.Reason != "" {
			return s + ", " + cs.Name + " " + cs.State.Waiting.Reason
		}
	}
	return s
}

// WaitGone waits until a GET of the object answers NotFound.
func (c *Client) WaitGone(ctx context.Context, p Planned, o WaitOptions) error {
	res, err := c.resource(p.Object, p.Object.GetNamespace())
	if err != nil {
		return c.Wrap("map", Ref(p.Object), err)
	}
	if o.What == "" {
		o.What = Ref(p.Object) + " deleted"
	}
	return Wait(ctx, func(ctx context.Context) (bool, string, error) {
		_, err := res.Get(ctx, p.Object.GetName(), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, "", nil
		}
		if err != nil {
			return false, "", c.Wrap("get", Ref(p.Object), err)
		}
		return false, "still present (finalizers or terminating pods)", nil
	}, o)
}
