package kube

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/gpuctl/gpuctl/internal/kubetest"
	"github.com/gpuctl/gpuctl/kubeclient"
	"github.com/gpuctl/gpuctl/modules/moduletest"
)

// TestCNI plays the seed's Day 1: the node is NotReady until Flannel is
// installed. The fixture's stand-in for "the kubelet sees the CNI" is handing
// the node to kwok once the Flannel DaemonSet exists.
func TestCNI(t *testing.T) {
	cl := kubetest.Start(t)
	ctx := context.Background()
	cl.AddNode(t, "cni-node", kubetest.NodeOptions{NotReady: true})
	h := newHost(t, cl, "cni-node")

	// kubeadm's ClusterConfiguration decides the pod CIDR.
	kcm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "kubeadm-config", Namespace: "kube-system"},
		Data: map[string]string{"ClusterConfiguration": "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nnetworking:\n  podSubnet: 10.10.0.0/16\n"}}
	if _, err := cl.Client.CoreV1().ConfigMaps("kube-system").Create(ctx, kcm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cl.Client.CoreV1().ConfigMaps("kube-system").Delete(ctx, "kubeadm-config", metav1.DeleteOptions{})
	})

	if _, err := moduletest.New(t, "cni", map[string]any{"pod_cidr": "10.99.0.0/16"}).Check(ctx, h); err == nil ||
		!strings.Contains(err.Error(), "disagrees with kubeadm's podSubnet 10.10.0.0/16") {
		t.Fatalf("want CIDR disagreement error, got %v", err)
	}

	args := map[string]any{"timeout": "2m"}
	d := check(t, h, moduletest.New(t, "cni", args))
	logDiff(t, d)
	if !strings.Contains(strings.Join(d.Notes, "\n"), "stays NotReady until a CNI is installed") {
		t.Fatalf("check does not say why the node is NotReady: %v", d.Notes)
	}
	if len(d.Changes) < 6 {
		t.Fatalf("expected the flannel objects in the plan, got %d changes", len(d.Changes))
	}
	if _, err := cl.Client.AppsV1().DaemonSets("kube-flannel").Get(ctx, "kube-flannel-ds", metav1.GetOptions{}); err == nil {
		t.Fatal("check created the DaemonSet")
	}

	// The "kubelet": once Flannel's DaemonSet exists, the node turns Ready.
	go func() {
		_ = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			_, err := cl.Client.AppsV1().DaemonSets("kube-flannel").Get(ctx, "kube-flannel-ds", metav1.GetOptions{})
			return err == nil, nil
		})
		time.Sleep(2 * time.Second) // long enough for the module to be seen waiting
		_ = cl.Manage(ctx, "cni-node")
	}()
	converge(t, h, "cni", args)

	cm, err := cl.Client.CoreV1().ConfigMaps("kube-flannel").Get(ctx, "kube-flannel-cfg", metav1.GetOptions{})
	if err != nil || !strings.Contains(cm.Data["net-conf.json"], `"Network": "10.10.0.0/16"`) {
		t.Fatalf("flannel config does not carry kubeadm's pod CIDR: %v %q", err, cm.Data["net-conf.json"])
	}
}

// TestCNITimeout: the node never becomes Ready; the error says why.
func TestCNITimeout(t *testing.T) {
	cl := kubetest.Start(t)
	ctx := context.Background()
	cl.AddNode(t, "cni-stuck", kubetest.NodeOptions{NotReady: true})
	h := newHost(t, cl, "cni-stuck")
	m := moduletest.New(t, "cni", map[string]any{"timeout": "3s"})
	d := check(t, h, m)
	err := m.Apply(ctx, h, d)
	t.Log(err)
	if err == nil || !strings.Contains(err.Error(), "node/cni-stuck Ready") || !strings.Contains(err.Error(), "cni plugin not initialized") ||
		!strings.Contains(err.Error(), "daemonset/kube-flannel/kube-flannel-ds") {
		t.Fatalf("want timeout with node condition and DaemonSet state, got %v", err)
	}
}

func TestSetNetwork(t *testing.T) {
	data, err := manifests.ReadFile("manifests/flannel-v0.28.10.yaml")
	if err != nil {
		t.Fatal(err)
	}
	objs, err := kubeclient.Decode("flannel", data)
	if err != nil {
		t.Fatal(err)
	}
	if err := setNetwork("flannel", objs, "10.10.0.0/16"); err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.GetKind() == "ConfigMap" {
			conf, _, _ := unstructured.NestedString(o.Object, "data", "net-conf.json")
			if !strings.Contains(conf, `"Network": "10.10.0.0/16"`) || !strings.Contains(conf, `"Type": "vxlan"`) {
				t.Fatalf("net-conf.json:\n%s", conf)
			}
		}
	}
	noCM, _ := kubeclient.Decode("x", []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n"))
	if err := setNetwork("mine.yaml", noCM, "10.10.0.0/16"); err == nil || !strings.Contains(err.Error(), "mine.yaml: no ConfigMap with net-conf.json") {
		t.Fatalf("got %v", err)
	}
}
