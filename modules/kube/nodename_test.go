package kube

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gpuctl/gpuctl/conn/ssh"
	"github.com/gpuctl/gpuctl/internal/kubetest"
	"github.com/gpuctl/gpuctl/internal/testhosts"
	"github.com/gpuctl/gpuctl/kubeclient"
	"github.com/gpuctl/gpuctl/modules/moduletest"
)

// The usual inventory names hosts by role ("gpu-1") while kubeadm registers
// the machine under its hostname. With no node argument and no node_name
// variable, the kube modules must address the Node kubeadm created.

func TestNodeNameIsTheHostnameNotTheInventoryName(t *testing.T) {
	hn, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	h := moduletest.Local()
	h.HostName = "gpu-1"
	got, err := nodeName(context.Background(), h, "")
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.ToLower(hn); got != want {
		t.Errorf("nodeName of inventory host gpu-1 on machine %q = %q, want %q", hn, got, want)
	}
	if got, _ := nodeName(context.Background(), h, "Explicit"); got != "explicit" {
		t.Errorf("node argument: got %q, want explicit", got)
	}
	h.V["node_name"] = "from-var"
	if got, _ := nodeName(context.Background(), h, ""); got != "from-var" {
		t.Errorf("node_name variable: got %q, want from-var", got)
	}
}

// On a real host reached over SSH: the test hosts' hostname is their Name,
// the inventory calls the host gpu-1.
func TestNodeNameOverSSHIsTheHostname(t *testing.T) {
	th := testhosts.Start(t, 1)[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := ssh.Dial(ctx, ssh.Config{
		Host: th.Addr, Port: th.Port, User: testhosts.UserRoot,
		KeyFiles: []string{th.KeyFile}, NoAgent: true,
		KnownHostsFiles: []string{th.KnownHostsFile}, NoUserKnownHosts: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	h := moduletest.On(c)
	h.HostName = "gpu-1"
	got, err := nodeName(ctx, h, "")
	if err != nil {
		t.Fatal(err)
	}
	if got != strings.ToLower(th.Name) {
		t.Errorf("nodeName of inventory host gpu-1 (ansible_host %s) = %q, want the hostname %q", th.Addr, got, th.Name)
	}
}

// taint without a node argument, on a host whose inventory name is not the
// machine's hostname, taints the Node named after the hostname.
func TestTaintWithoutNodeArgumentFindsTheHostnameNode(t *testing.T) {
	cl := kubetest.Start(t)
	hn, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	node := strings.ToLower(hn)
	cl.AddNode(t, node, kubetest.NodeOptions{})
	h := newHost(t, cl, "")
	h.HostName = "gpu-1"
	delete(h.V, "node_name")
	ctx := context.Background()
	m := moduletest.New(t, "taint", map[string]any{"taints": []any{map[string]any{"key": "gpuctl.io/nodename-test", "effect": "NoSchedule"}}})
	d := check(t, h, m)
	if len(d.Changes) != 1 {
		t.Fatalf("check: want one change on node %s, got %+v", node, d.Changes)
	}
	if err := m.Apply(ctx, h, d); err != nil {
		t.Fatal(err)
	}
	n, err := cl.Client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tn := range n.Spec.Taints {
		got = append(got, kubeclient.TaintString(tn))
	}
	if !strings.Contains(strings.Join(got, ","), "gpuctl.io/nodename-test") {
		t.Errorf("node %s taints %v: the taint went elsewhere", node, got)
	}
}
