package kubetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// GPU is the extended resource the NVIDIA device plugin advertises.
const GPU corev1.ResourceName = "nvidia.com/gpu"

// NodeOptions shape a fake node.
type NodeOptions struct {
	Labels map[string]string
	Taints []corev1.Taint
	// Capacity adds to the default cpu 8, memory 32Gi, pods 110
	// (e.g. {"nvidia.com/gpu": "1"}); allocatable is the same.
	Capacity map[string]string
	// NotReady leaves the node outside kwok's management with a Ready=False
	// condition, as a kubelet reports before a CNI is installed. Manage hands
	// it to kwok later.
	NotReady bool
}

// kwokAnnotation marks the nodes kwok plays the kubelet for (up.sh selects on it).
const kwokAnnotation = "kwok.x-k8s.io/node"

// AddNode creates a node played by kwok and waits until it is Ready (unless
// opts.NotReady); the node is deleted when the test ends.
func (c *Cluster) AddNode(t testing.TB, name string, opts NodeOptions) *corev1.Node {
	t.Helper()
	ctx := context.Background()
	rl := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("8"),
		corev1.ResourceMemory: resource.MustParse("32Gi"),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	for k, v := range opts.Capacity {
		q, err := resource.ParseQuantity(v)
		if err != nil {
			t.Fatalf("kubetest: capacity %s=%q: %v", k, v, err)
		}
		rl[corev1.ResourceName(k)] = q
	}
	labels := map[string]string{"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "type": "kwok"}
	for k, v := range opts.Labels {
		labels[k] = v
	}
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, Annotations: map[string]string{}},
		Spec:       corev1.NodeSpec{Taints: opts.Taints},
	}
	if !opts.NotReady {
		n.Annotations[kwokAnnotation] = "fake"
	}
	now := metav1.Now()
	// The API server keeps a new node's status on create, and kwok takes the
	// node over at once, so a later status update would race with kwok.
	n.Status.Capacity, n.Status.Allocatable = rl, rl.DeepCopy()
	if opts.NotReady {
		n.Status.Conditions = []corev1.NodeCondition{{
			Type: corev1.NodeReady, Status: corev1.ConditionFalse, Reason: "KubeletNotReady",
			Message:           "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized",
			LastHeartbeatTime: now, LastTransitionTime: now,
		}}
	}
	if _, err := c.Client.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil {
		t.Fatalf("kubetest: create node %s: %v", name, err)
	}
	t.Cleanup(func() { c.DeleteNode(name) })
	if !opts.NotReady {
		if err := c.WaitNodeReady(ctx, name, time.Minute); err != nil {
			t.Fatalf("kubetest: %v", err)
		}
	}
	got, err := c.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("kubetest: %v", err)
	}
	return got
}

// Manage hands a NotReady node to kwok, which then reports it Ready: the
// fixture's stand-in for a kubelet whose CNI just came up.
func (c *Cluster) Manage(ctx context.Context, name string) error {
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:"fake"}}}`, kwokAnnotation)
	_, err := c.Client.CoreV1().Nodes().Patch(ctx, name, "application/merge-patch+json", []byte(patch), metav1.PatchOptions{})
	return err
}

// WaitNodeReady polls until the node reports Ready=True.
func (c *Cluster) WaitNodeReady(ctx context.Context, name string, timeout time.Duration) error {
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		n, err := c.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("node %s not Ready after %v: %w", name, timeout, err)
	}
	return nil
}

// DeleteNode removes a node and the pods bound to it (no kubelet is left to
// finish them).
func (c *Cluster) DeleteNode(name string) {
	ctx := context.Background()
	_ = c.Client.CoreV1().Nodes().Delete(ctx, name, metav1.DeleteOptions{})
	pods, err := c.Client.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + name})
	if err != nil {
		return
	}
	zero := int64(0)
	for _, p := range pods.Items {
		err := c.Client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
		if err != nil && !apierrors.IsNotFound(err) {
			continue
		}
	}
}
