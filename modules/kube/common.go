// Package kube holds the modules that act on a Kubernetes cluster through
// its API server: k8s, cni, taint, label, device_plugin, gpu_test_pod and
// cluster_check. Each runs against a host (normally the control plane), reads
// the kubeconfig there and reaches the API server through that host's
// connection; see kubeclient/.
package kube

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/gpuctl/gpuctl/facts"
	"github.com/gpuctl/gpuctl/kubeclient"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

//go:embed manifests/*.yaml
var manifests embed.FS

// Access is the argument every kube module shares.
type Access struct {
	Kubeconfig string `yaml:"kubeconfig" doc:"kubeconfig path on the host; default: the host variable kubeconfig, else /etc/kubernetes/admin.conf"`
}

// client connects to the cluster through the host.
func (a Access) client(ctx context.Context, h modules.Host) (*kubeclient.Client, error) {
	path := a.Kubeconfig
	if path == "" {
		if v, ok := h.Vars()["kubeconfig"].(string); ok && v != "" {
			path = v
		}
	}
	if path == "" {
		path = kubeclient.DefaultKubeconfig
	}
	return kubeclient.Connect(ctx, h.Conn(), h.Name(), path)
}

// Reads names the kubeconfig, so that in check mode a play whose earlier
// task would create it (kubeadm init) shows this task as known after apply.
// A kubeconfig from the host variable is not known here; noCluster covers it.
func (a Access) Reads() []string {
	if a.Kubeconfig != "" {
		return []string{a.Kubeconfig}
	}
	return []string{kubeclient.DefaultKubeconfig}
}

// noCluster turns a missing kubeconfig into modules.NotYet: when a play
// that creates the control plane is only checked, the cluster its later
// tasks talk to does not exist yet ("known after apply"); a real run fails.
func noCluster(_ modules.Host, err error) (plan.Diff, error) {
	if errors.Is(err, fs.ErrNotExist) {
		return plan.Diff{}, modules.NotYet("known after apply: %w", err)
	}
	return plan.Diff{}, err
}

// nodeName is the Kubernetes node a host is: the node argument when given,
// else the host variable node_name, else the host's kernel host name (the
// typed facts.Nodename, which kubeadm and the kubelet name the Node after;
// not the inventory name, which is often a role such as gpu-1); lower-cased
// as kubeadm does.
func nodeName(ctx context.Context, h modules.Host, arg string) (string, error) {
	n := arg
	if n == "" {
		if v, ok := h.Vars()["node_name"].(string); ok {
			n = v
		}
	}
	if n == "" {
		hn, err := facts.Get(ctx, h, facts.Nodename)
		if err != nil {
			return "", fmt.Errorf("%s: node name: %w", h.Name(), err)
		}
		n = hn
	}
	if n == "" {
		n = h.Name()
	}
	return strings.ToLower(n), nil
}

// readManifest reads a user-supplied manifest from the machine gpuctl runs on.
func readManifest(ctx context.Context, h modules.Host, path string) ([]byte, error) {
	data, err := h.Local().ReadFile(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", path, err)
	}
	return data, nil
}

// orDefault sets a duration argument left unset. Durations carry their
// default in code: a default tag is decoded without the duration hook.
func orDefault(d *time.Duration, def time.Duration) {
	if *d == 0 {
		*d = def
	}
}

// waitOpts fills the defaults every module's waits share.
func waitOpts(h modules.Host, what string, timeout time.Duration, explain kubeclient.Explainer) kubeclient.WaitOptions {
	return kubeclient.WaitOptions{What: what, Timeout: timeout, Log: h.Log(), Explain: explain}
}
