package kube

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gpuctl/gpuctl/kubeclient"
	"github.com/gpuctl/gpuctl/modules"
)

// Toleration is a pod toleration as written in a pod spec.
type Toleration struct {
	Key      string `yaml:"key" doc:"taint key to tolerate (empty with operator Exists: every taint)"`
	Operator string `yaml:"operator" doc:"Equal (default) matches the value, Exists any value"`
	Value    string `yaml:"value" doc:"taint value"`
	Effect   string `yaml:"effect" doc:"taint effect to tolerate; empty: all"`
}

func (t Toleration) core() corev1.Toleration {
	op := corev1.TolerationOperator(t.Operator)
	if op == "" {
		op = corev1.TolerationOpEqual
	}
	return corev1.Toleration{Key: t.Key, Operator: op, Value: t.Value, Effect: corev1.TaintEffect(t.Effect)}
}

func validTolerations(ts []Toleration) error {
	for i, t := range ts {
		switch t.Operator {
		case "", "Equal", "Exists":
		default:
			return fmt.Errorf("tolerations[%d]: operator %q; expected Equal or Exists", i, t.Operator)
		}
		switch t.Effect {
		case "", "NoSchedule", "PreferNoSchedule", "NoExecute":
		default:
			return fmt.Errorf("tolerations[%d]: effect %q; expected NoSchedule, PreferNoSchedule or NoExecute", i, t.Effect)
		}
	}
	return nil
}

func coreTolerations(ts []Toleration) []corev1.Toleration {
	var out []corev1.Toleration
	for _, t := range ts {
		out = append(out, t.core())
	}
	return out
}

// replacePod deletes any pod of the same name and creates p, so every run
// starts from a fresh container.
func replacePod(ctx context.Context, h modules.Host, c *kubeclient.Client, p *corev1.Pod) error {
	ref := "pod/" + p.Namespace + "/" + p.Name
	if err := deletePod(ctx, h, c, p.Namespace, p.Name, time.Minute); err != nil {
		return err
	}
	_, err := c.Kube.CoreV1().Pods(p.Namespace).Create(ctx, p, metav1.CreateOptions{FieldManager: kubeclient.FieldManager})
	return c.Wrap("create", ref, err)
}

// deletePod removes a pod and waits until it is gone.
func deletePod(ctx context.Context, h modules.Host, c *kubeclient.Client, ns, name string, timeout time.Duration) error {
	ref := "pod/" + ns + "/" + name
	zero := int64(0)
	err := c.Kube.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return c.Wrap("delete", ref, err)
	}
	return kubeclient.Wait(ctx, func(ctx context.Context) (bool, string, error) {
		_, err := c.Kube.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, "", nil
		}
		return false, "terminating", c.Wrap("get", ref, err)
	}, waitOpts(h, ref+" deleted", timeout, nil))
}

// podLogs returns the logs of the pod's first container.
func podLogs(ctx context.Context, c *kubeclient.Client, ns, name string) (string, error) {
	b, err := c.Kube.CoreV1().Pods(ns).GetLogs(name, &corev1.PodLogOptions{}).DoRaw(ctx)
	if err != nil {
		return "", c.Wrap("read logs of", "pod/"+ns+"/"+name, err)
	}
	return string(b), nil
}

// waitScheduled waits for the scheduler's verdict on a pod: bound to a node,
// or marked Unschedulable. It returns the node ("" when unschedulable) and
// the scheduler's message.
func waitScheduled(ctx context.Context, h modules.Host, c *kubeclient.Client, ns, name string, timeout time.Duration) (node, msg string, err error) {
	err = kubeclient.Wait(ctx, func(ctx context.Context) (bool, string, error) {
		p, err := c.Kube.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, "", c.Wrap("get", "pod/"+ns+"/"+name, err)
		}
		if p.Spec.NodeName != "" {
			node = p.Spec.NodeName
			return true, "", nil
		}
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodScheduled && cond.Status == corev1.ConditionFalse && cond.Reason == corev1.PodReasonUnschedulable {
				msg = cond.Message
				return true, "", nil
			}
		}
		return false, "waiting for the scheduler", nil
	}, waitOpts(h, fmt.Sprintf("scheduler's decision on pod/%s/%s", ns, name), timeout,
		func(ctx context.Context) string { return c.ExplainPod(ctx, ns, name) }))
	return node, msg, err
}
