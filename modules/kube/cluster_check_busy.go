package kube

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/gpuctl/gpuctl/kubeclient"
)

const gpuResource corev1.ResourceName = "nvidia.com/gpu"

// gpuHolders counts the GPUs of the nodes the GPU test pod selects and
// names the unfinished pods that hold them. A new GPU pod can only schedule
// when free > 0: on a one-GPU node the model server holds the GPU from
// Day 3 on, and the check pod would wait until its timeout.
func (m *ClusterCheck) gpuHolders(ctx context.Context, c *kubeclient.Client, sel map[string]string) (total, free int64, holders []string, err error) {
	nodes, err := c.Kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(sel).String()})
	if err != nil {
		return 0, 0, nil, err
	}
	on := map[string]bool{}
	for _, n := range nodes.Items {
		q := n.Status.Allocatable[gpuResource]
		total += q.Value()
		on[n.Name] = true
	}
	pods, err := c.Kube.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, 0, nil, err
	}
	used := int64(0)
	for _, p := range pods.Items {
		if !on[p.Spec.NodeName] || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		for _, ct := range p.Spec.Containers {
			if q, ok := ct.Resources.Limits[gpuResource]; ok && q.Value() > 0 {
				used += q.Value()
				holders = append(holders, fmt.Sprintf("pod/%s/%s (%s)", p.Namespace, p.Name, p.Status.Phase))
			}
		}
	}
	return total, total - used, holders, nil
}

// keptGPUPod is the evidence when no GPU is free: the GPU test pod that
// site.yaml ran and kept (gpu_test_pod keep: true), if it succeeded and its
// log shows the GPU.
func (m *ClusterCheck) keptGPUPod(ctx context.Context, c *kubeclient.Client, p *GPUTestPod) (bool, string) {
	live, err := c.Kube.CoreV1().Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
	if err != nil {
		return false, fmt.Sprintf("no kept GPU test pod %s/%s to show instead: %v", p.Namespace, p.Name, err)
	}
	if live.Status.Phase != corev1.PodSucceeded {
		return false, fmt.Sprintf("kept GPU test pod %s/%s is %s, not Succeeded", p.Namespace, p.Name, live.Status.Phase)
	}
	logs, err := podLogs(ctx, c, p.Namespace, p.Name)
	if err != nil {
		return false, fmt.Sprintf("kept GPU test pod %s/%s: %v", p.Namespace, p.Name, err)
	}
	for _, l := range strings.Split(logs, "\n") {
		if p.expect.MatchString(l) {
			return true, fmt.Sprintf("kept GPU test pod %s/%s succeeded on %s: %s", p.Namespace, p.Name, live.Spec.NodeName, strings.TrimSpace(l))
		}
	}
	return false, fmt.Sprintf("kept GPU test pod %s/%s succeeded but its log does not match /%s/", p.Namespace, p.Name, p.Expect)
}
