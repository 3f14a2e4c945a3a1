// Package kube holds the modules that act on a Kubernetes cluster through
// its API server: k8s, cni, taint, label, device_plugin, gpu_test_pod and
// cluster_check. Each runs against a host (normally the control plane), reads
// the kubeconfig there and reaches the API server through that host's
// connection; see agent/kube.
package kube

import (
	"context"
	"embed"
	"fmt"
	"strings"
	"time"

	kubeapi "github.com/gpuctl/gpuctl/agent/kube"
	"github.com/gpuctl/gpuctl/modules"
)

//go:embed manifests/*.yaml
var manifests embed.FS

// Access is the argument every kube module shares.
type Access struct {
	Kubeconfig string `yaml:"kubeconfig" doc:"kubeconfig path on the host; default: the host variable kubeconfig, else /etc/kubernetes/admin.conf"`
}

// client connects to the cluster through the host.
func (a Access) client(ctx context.Context, h modules.Host) (*kubeapi.Client, error) {
	path := a.Kubeconfig
	if path == "" {
		if v, ok := h.Vars()["kubeconfig"].(string); ok && v != "" {
			path = v
		}
	}
	if path == "" {
		path = kubeapi.DefaultKubeconfig
	}
	return kubeapi.Connect(ctx, h.Conn(), h.Name(), path)
}

// nodeName is the Kubernetes node a host is: the node argument when given,
// else the host variable node_name, else the host's hostname fact (kubeadm
// names nodes after the hostname), else the inventory name; lower-cased as
// kubeadm does.
func nodeName(h modules.Host, arg string) string {
	n := arg
	if n == "" {
		if v, ok := h.Vars()["node_name"].(string); ok {
			n = v
		}
	}
	if n == "" {
		n = h.Facts().String("hostname")
	}
	if n == "" {
		n = h.Name()
	}
	return strings.ToLower(n)
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
func waitOpts(h modules.Host, what string, timeout time.Duration, explain kubeapi.Explainer) kubeapi.WaitOptions {
	return kubeapi.WaitOptions{What: what, Timeout: timeout, Log: h.Log(), Explain: explain}
}
