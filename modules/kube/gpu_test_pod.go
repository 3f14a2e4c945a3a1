package kube

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gpuctl/gpuctl/kubeclient"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:      "gpu_test_pod",
		Summary:   "Run a pod that requests a GPU, check its log for the GPU, clean up",
		CheckMode: "reports that the pod would run; creates nothing",
		Example: `gpu_test_pod:
  node_selector: {gpu: "true"}
  tolerations:
    - {key: gpu-only, value: "true", effect: NoSchedule}`,
		New: func() modules.Module { return &GPUTestPod{} },
	})
}

// specHashAnnotation lets a kept pod be recognised as this task's own.
const specHashAnnotation = "gpuctl.io/spec-hash"

// GPUTestPod runs the seed's GPU test: a CUDA base image with an
// nvidia.com/gpu limit running nvidia-smi, restartPolicy Never. It proves
// the whole path: scheduler counted the GPU, kubelet and containerd started
// the container with the NVIDIA runtime, and the driver answered.
type GPUTestPod struct {
	Access       `yaml:",squash"`
	Name         string            `yaml:"name" default:"gpu-test" doc:"pod name"`
	Namespace    string            `yaml:"namespace" default:"default" doc:"pod namespace"`
	Image        string            `yaml:"image" default:"nvidia/cuda:12.2.0-base-ubuntu22.04" doc:"container image"`
	Command      []string          `yaml:"command" default:"nvidia-smi" doc:"container command"`
	GPUs         int               `yaml:"gpus" default:"1" doc:"nvidia.com/gpu limit"`
	NodeSelector map[string]string `yaml:"node_selector" doc:"nodeSelector of the pod"`
	Tolerations  []Toleration      `yaml:"tolerations" doc:"tolerations of the pod"`
	Expect       string            `yaml:"expect" default:"NVIDIA-SMI|GPU [0-9]+:|CUDA Version" doc:"regular expression the log must match"`
	Timeout      time.Duration     `yaml:"timeout" doc:"how long the pod may take to finish (image pull included) (default 5m)"`
	Keep         bool              `yaml:"keep" doc:"keep the finished pod; a later run then reports no change while it is there"`

	expect *regexp.Regexp
	result map[string]any
}

func (m *GPUTestPod) Validate() error {
	orDefault(&m.Timeout, 5*time.Minute)
	if len(m.Command) == 0 {
		return errors.New("command is empty")
	}
	if m.GPUs < 0 {
		return fmt.Errorf("gpus is %d; expected 0 or more", m.GPUs)
	}
	if err := validTolerations(m.Tolerations); err != nil {
		return err
	}
	re, err := regexp.Compile(m.Expect)
	if err != nil {
		return fmt.Errorf("expect: %w", err)
	}
	m.expect = re
	return nil
}

func (m *GPUTestPod) pod() *corev1.Pod {
	c := corev1.Container{Name: "cuda-container", Image: m.Image, Command: m.Command}
	if m.GPUs > 0 {
		c.Resources.Limits = corev1.ResourceList{GPUResource: *resource.NewQuantity(int64(m.GPUs), resource.DecimalSI)}
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: m.Name, Namespace: m.Namespace,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "gpuctl"}},
		Spec: corev1.PodSpec{
			Containers:    []corev1.Container{c},
			RestartPolicy: corev1.RestartPolicyNever,
			NodeSelector:  m.NodeSelector,
			Tolerations:   coreTolerations(m.Tolerations),
		},
	}
	spec, _ := json.Marshal(p.Spec)
	sum := sha256.Sum256(spec)
	p.Annotations = map[string]string{specHashAnnotation: hex.EncodeToString(sum[:8])}
	return p
}

func (m *GPUTestPod) ref() string { return "pod/" + m.Namespace + "/" + m.Name }

type podState struct{ client *kubeclient.Client }

func (m *GPUTestPod) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	var d plan.Diff
	c, err := m.client(ctx, h)
	if err != nil {
		return noCluster(h, err)
	}
	d.State = &podState{client: c}
	want := m.pod()
	live, err := c.Kube.CoreV1().Pods(m.Namespace).Get(ctx, m.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		live = nil
	case err != nil:
		return d, c.Wrap("get", m.ref(), err)
	}
	if m.Keep && live != nil && live.Status.Phase == corev1.PodSucceeded &&
		live.Annotations[specHashAnnotation] == want.Annotations[specHashAnnotation] {
		logs, err := podLogs(ctx, c, m.Namespace, m.Name)
		if err == nil && m.expect.MatchString(logs) {
			m.record(live, logs)
			return d, nil
		}
	}
	after := fmt.Sprintf("run %s (%s, nvidia.com/gpu: %d) and expect /%s/ in its log", m.Image, strings.Join(m.Command, " "), m.GPUs, m.Expect)
	d.Add(plan.Change{Resource: m.ref(), Action: plan.Run, After: after})
	if live != nil {
		d.Note(fmt.Sprintf("existing %s (%s) is replaced", m.ref(), live.Status.Phase))
	}
	return d, nil
}

func (m *GPUTestPod) Apply(ctx context.Context, h modules.Host, d plan.Diff) (err error) {
	st, ok := d.State.(*podState)
	if !ok {
		return errors.New("gpu_test_pod: Apply called without this module's Check")
	}
	c := st.client
	if err := replacePod(ctx, h, c, m.pod()); err != nil {
		return err
	}
	if !m.Keep {
		defer func() {
			if derr := deletePod(context.WithoutCancel(ctx), h, c, m.Namespace, m.Name, time.Minute); derr != nil && err == nil {
				err = derr
			}
		}()
	}
	p, err := c.WaitPod(ctx, m.Namespace, m.Name, waitOpts(h, m.ref()+" to finish", m.Timeout, nil),
		corev1.PodSucceeded, corev1.PodFailed)
	if err != nil {
		return err
	}
	logs, lerr := podLogs(ctx, c, m.Namespace, m.Name)
	m.record(p, logs)
	if p.Status.Phase == corev1.PodFailed {
		return fmt.Errorf("%s failed on node %s:\n%s\n  log:\n%s", m.ref(), p.Spec.NodeName,
			c.ExplainPod(ctx, m.Namespace, m.Name), indent(lastLines(logs, 20), "    "))
	}
	if lerr != nil {
		return lerr
	}
	if !m.expect.MatchString(logs) {
		return fmt.Errorf("%s succeeded on node %s but its log does not match /%s/ (no GPU seen):\n%s",
			m.ref(), p.Spec.NodeName, m.Expect, indent(lastLines(logs, 20), "    "))
	}
	h.Log().Info("GPU test pod succeeded", "pod", m.ref(), "node", p.Spec.NodeName, "gpu", m.expect.FindString(logs))
	return nil
}

func (m *GPUTestPod) record(p *corev1.Pod, logs string) {
	m.result = map[string]any{"node": p.Spec.NodeName, "phase": string(p.Status.Phase), "logs": logs}
}

// Result exposes node, phase and logs to register.
func (m *GPUTestPod) Result() map[string]any { return m.result }

// Message shows the log line that proved the GPU.
func (m *GPUTestPod) Message() string {
	if m.result == nil {
		return ""
	}
	logs, _ := m.result["logs"].(string)
	for _, l := range strings.Split(logs, "\n") {
		if m.expect.MatchString(l) {
			return fmt.Sprintf("%s on %v: %s", m.ref(), m.result["node"], strings.TrimSpace(l))
		}
	}
	return ""
}

// Unverified: a test pod that is cleaned up leaves nothing for a second
// check to find; running it is the point.
func (m *GPUTestPod) Unverified() bool { return !m.Keep }

var (
	_ modules.Module     = (*GPUTestPod)(nil)
	_ modules.Resulter   = (*GPUTestPod)(nil)
	_ modules.Messager   = (*GPUTestPod)(nil)
	_ modules.Unverified = (*GPUTestPod)(nil)
)
