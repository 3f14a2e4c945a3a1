package kube

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/gpuctl/gpuctl/kubeclient"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

// waitObject waits for an applied object to be usable (or a deleted one to
// be gone), for the kinds where "usable" has a clear meaning.
func waitObject(ctx context.Context, h modules.Host, c *kubeclient.Client, p kubeclient.Planned, timeout time.Duration) error {
	o := waitOpts(h, "", timeout, nil)
	if p.Action == plan.Delete {
		return c.WaitGone(ctx, p, o)
	}
	ns, name := p.Object.GetNamespace(), p.Object.GetName()
	if p.Object.GroupVersionKind().Group == "apps" {
		switch p.Object.GetKind() {
		case "DaemonSet":
			return c.WaitDaemonSet(ctx, ns, name, o)
		case "Deployment":
			return c.WaitDeployment(ctx, ns, name, o)
		}
	}
	if p.Object.GetKind() == "Pod" && p.Object.GroupVersionKind().Group == "" {
		_, err := c.WaitPod(ctx, ns, name, o, corev1.PodRunning, corev1.PodSucceeded)
		return err
	}
	return nil
}
