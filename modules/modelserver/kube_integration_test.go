package modelserver

import (
	"context"
	"os"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gpuctl/gpuctl/internal/kubetest"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/modelserver/internal/imagetest"
	"github.com/gpuctl/gpuctl/modules/moduletest"
)

func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }

// kubeHost is the control plane as a module sees it: here the local
// machine, whose kubeconfig is the fixture's.
func kubeHost(t *testing.T, cl *kubetest.Cluster) *moduletest.Host {
	h := moduletest.Local()
	h.HostName, h.V, h.TB = "cp1", map[string]any{"kubeconfig": cl.KubeconfigPath}, t
	return h
}

func gpuNode(t *testing.T, cl *kubetest.Cluster, name string) {
	cl.AddNode(t, name, kubetest.NodeOptions{
		Labels:   map[string]string{"gpu": "true"},
		Taints:   []corev1.Taint{{Key: "gpu-only", Value: "true", Effect: corev1.TaintEffectNoSchedule}},
		Capacity: map[string]string{"nvidia.com/gpu": "2"},
	})
}

// converge is the timeline against the API server: check mode creates
// nothing, apply, then check is empty.
func converge(t *testing.T, cl *kubetest.Cluster, h *moduletest.Host, args map[string]any) (string, string) {
	t.Helper()
	ctx := context.Background()
	name, _ := args["name"].(string)
	version := func() string {
		dep, err := cl.Client.AppsV1().Deployments("default").Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return "absent"
		}
		if err != nil {
			t.Fatal(err)
		}
		return dep.ResourceVersion
	}
	before := version()
	d, err := modules.CheckOnly(ctx, moduletest.New(t, "model_server", args), h)
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	if after := version(); after != before {
		t.Fatalf("check mode changed deployment/%s: %s → %s", name, before, after)
	}
	if d.Empty() {
		t.Fatal("first check found nothing to do")
	}
	t.Logf("check-mode diff:\n%s", moduletest.Describe(d))
	m := moduletest.New(t, "model_server", args)
	d2, err := m.Check(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Apply(ctx, h, d2); err != nil {
		t.Fatalf("apply: %v", err)
	}
	msg := m.(modules.Messager).Message()
	t.Logf("message: %s", msg)
	moduletest.NoChange(t, h, "model_server", args)
	dep, err := cl.Client.AppsV1().Deployments("default").Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return msg, dep.Spec.Template.Spec.Containers[0].Image
}

func cleanupServer(t *testing.T, cl *kubetest.Cluster, name string) {
	t.Cleanup(func() {
		ctx := context.Background()
		cl.Client.AppsV1().Deployments("default").Delete(ctx, name, metav1.DeleteOptions{})
		cl.Client.CoreV1().Services("default").Delete(ctx, name, metav1.DeleteOptions{})
		cl.Client.CoreV1().ConfigMaps("default").Delete(ctx, name+"-model", metav1.DeleteOptions{})
	})
}

// TestModelServerKubernetes deploys with a registry image and a model in a
// ConfigMap onto a kwok GPU node: the pod is placed by the seed's
// nodeSelector and toleration with a GPU limit, the rollout is waited for,
// and the prediction is skipped with its reason (kwok runs no containers).
func TestModelServerKubernetes(t *testing.T) {
	cl := kubetest.Start(t)
	ctx := context.Background()
	gpuNode(t, cl, "ms-gpu")
	cl.AddNode(t, "ms-cpu", kubetest.NodeOptions{}) // must not get the pod
	h := kubeHost(t, cl)
	cleanupServer(t, cl, "ms-reg")
	args := map[string]any{"name": "ms-reg", "image": "registry.example.com/gpuctl-serve:v1", "model": imagetest.SeedModel(t, t.TempDir()), "timeout": "90s"}

	msg, img := converge(t, cl, h, args)
	if !strings.Contains(msg, "prediction skipped") || !strings.Contains(msg, "kwok") || img != "registry.example.com/gpuctl-serve:v1" {
		t.Fatalf("message %q image %s", msg, img)
	}
	pods, err := cl.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=ms-reg"})
	if err != nil || len(pods.Items) != 1 {
		t.Fatalf("pods %v %v", pods, err)
	}
	p := pods.Items[0]
	if v := volume(p.Spec, "model"); p.Spec.NodeName != "ms-gpu" || v == nil || v.ConfigMap == nil {
		t.Fatalf("pod on %s, volumes %+v", p.Spec.NodeName, p.Spec.Volumes)
	}
	if _, err := cl.Client.CoreV1().ConfigMaps("default").Get(ctx, "ms-reg-model", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}

	// A changed argument is an update of the fields it sets.
	args["replicas"] = 2
	args["node_selector"] = map[string]any{"gpu": "true"}
	m := moduletest.New(t, "model_server", args)
	d, err := m.Check(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Changes) != 1 || d.Changes[0].Resource != "deployment/default/ms-reg" || d.Changes[0].Field != "spec.replicas" {
		t.Fatalf("update diff:\n%s", moduletest.Describe(d))
	}
	t.Logf("update: %s\n%s", d.Changes[0].Field, d.Changes[0].After)
	if err := m.Apply(ctx, h, d); err != nil {
		t.Fatal(err)
	}
	moduletest.NoChange(t, h, "model_server", args)
}

// TestModelServerKubernetesBuiltImage deploys the image gpuctl builds
// itself (not imported here: this machine runs no containerd); the tag is
// the content hash, so a re-run is a no-op.
func TestModelServerKubernetesBuiltImage(t *testing.T) {
	cl := kubetest.Start(t)
	gpuNode(t, cl, "ms-gpu2")
	h := kubeHost(t, cl)
	cleanupServer(t, cl, "ms-built")
	args := map[string]any{"name": "ms-built", "binary": serveBinary(t), "import_image": false, "timeout": "90s", "cache_dir": t.TempDir()}
	msg, img := converge(t, cl, h, args)
	if !strings.HasPrefix(img, "gpuctl.local/model-server:") || !strings.Contains(msg, "prediction skipped") {
		t.Fatalf("image %s message %q", img, msg)
	}
	// Different content, different tag: the Deployment rolls.
	args["extra_args"] = []any{"--max-batch=128"}
	args["model"] = imagetest.SeedModel(t, t.TempDir())
	_, img2 := converge(t, cl, h, args)
	if img2 == img {
		t.Fatal("baking a model kept the tag")
	}
}

// TestModelServerKubernetesHostPath uploads the model to the host (here
// this machine, into a temporary directory) and mounts it with hostPath.
func TestModelServerKubernetesHostPath(t *testing.T) {
	cl := kubetest.Start(t)
	gpuNode(t, cl, "ms-gpu3")
	h := kubeHost(t, cl)
	cleanupServer(t, cl, "ms-hp")
	dir := t.TempDir()
	args := map[string]any{"name": "ms-hp", "image": "r.io/gpuctl-serve:v1", "model": imagetest.SeedModel(t, t.TempDir()), "model_from": "host_path", "model_dir": dir, "timeout": "60s"}
	converge(t, cl, h, args)
	if _, err := os.Stat(dir + "/seed.safetensors"); err != nil {
		t.Fatal(err)
	}
	dep, err := cl.Client.AppsV1().Deployments("default").Get(context.Background(), "ms-hp", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if v := volume(dep.Spec.Template.Spec, "model"); v == nil || v.HostPath == nil || v.HostPath.Path != dir {
		t.Fatalf("volumes %+v", dep.Spec.Template.Spec.Volumes)
	}
}

func TestModelServerKubernetesFailures(t *testing.T) {
	cl := kubetest.Start(t)
	ctx := context.Background()
	h := kubeHost(t, cl)

	t.Run("no cluster yet in check mode", func(t *testing.T) {
		hh := moduletest.Local()
		hh.V = map[string]any{"kubeconfig": "/nonexistent/admin.conf"}
		d, err := modules.CheckOnly(ctx, moduletest.New(t, "model_server", map[string]any{"image": "r.io/x:1"}), hh)
		if err != nil || !strings.Contains(d.Unknown, "known after apply") {
			t.Fatalf("diff %+v err %v", d, err)
		}
		if _, err := moduletest.New(t, "model_server", map[string]any{"image": "r.io/x:1"}).Check(ctx, hh); err == nil {
			t.Fatal("apply-mode check without a kubeconfig passed")
		}
	})

	t.Run("unschedulable explained", func(t *testing.T) {
		cleanupServer(t, cl, "ms-nowhere")
		args := map[string]any{"name": "ms-nowhere", "image": "r.io/x:1", "node_selector": map[string]any{"gpu": "nowhere"}, "timeout": "5s"}
		m := moduletest.New(t, "model_server", args)
		d, err := m.Check(ctx, h)
		if err != nil {
			t.Fatal(err)
		}
		err = m.Apply(ctx, h, d)
		if err == nil || !strings.Contains(err.Error(), "timed out") || !strings.Contains(err.Error(), "Unschedulable") {
			t.Fatalf("err %v", err)
		}
		t.Logf("as reported:\n%v", err)
		if _, err := cl.Client.AppsV1().Deployments("default").Get(ctx, "ms-nowhere", metav1.GetOptions{}); apierrors.IsNotFound(err) {
			t.Fatal("deployment not applied")
		}
	})
}
