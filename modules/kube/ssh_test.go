package kube

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/conn/ssh"
	"github.com/gpuctl/gpuctl/conn/ssh/sshtest"
	"github.com/gpuctl/gpuctl/internal/kubetest"
	"github.com/gpuctl/gpuctl/modules/moduletest"
)

// countingConn records the connections opened from the host, to prove the
// API server traffic went through the SSH connection.
type countingConn struct {
	conn.Conn
	dials atomic.Int64
	reads atomic.Int64
}

func (c *countingConn) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c.dials.Add(1)
	return c.Conn.Dial(ctx, network, addr)
}

func (c *countingConn) ReadFile(ctx context.Context, path string) ([]byte, error) {
	c.reads.Add(1)
	return c.Conn.ReadFile(ctx, path)
}

// sshKubeHost is the control-plane host reached over a real OpenSSH server:
// the kubeconfig is read over SFTP and the API server dialled through the
// SSH connection (direct-tcpip), as in production.
func sshKubeHost(t *testing.T, cl *kubetest.Cluster, node string) (*moduletest.Host, *countingConn) {
	t.Helper()
	srv := sshtest.Start(t)
	c, err := ssh.Dial(context.Background(), ssh.Config{
		Host: srv.Host, Port: srv.Port, User: "root",
		KeyFiles: []string{srv.ClientKey}, NoAgent: true,
		KnownHostsFiles: []string{srv.KnownHosts}, NoUserKnownHosts: true,
		ConnectTimeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	cc := &countingConn{Conn: c}
	h := newHost(t, cl, node)
	h.HostName, h.C = "ssh-cp1", cc
	return h, cc
}

func TestOverSSH(t *testing.T) {
	cl := kubetest.Start(t)
	ctx := context.Background()
	gpuNode(t, cl, "ssh-gpu")
	h, cc := sshKubeHost(t, cl, "ssh-gpu")

	t.Run("label and taint", func(t *testing.T) {
		converge(t, h, "label", map[string]any{"labels": map[string]any{"ssh": "yes"}})
		converge(t, h, "taint", map[string]any{"key": "ssh-only", "effect": "NoSchedule"})
		n, err := cl.Client.CoreV1().Nodes().Get(ctx, "ssh-gpu", metav1.GetOptions{})
		if err != nil || n.Labels["ssh"] != "yes" {
			t.Fatalf("label not applied: %v %v", err, n.Labels)
		}
		converge(t, h, "taint", map[string]any{"key": "ssh-only", "state": "absent"})
	})

	t.Run("k8s", func(t *testing.T) {
		def := map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": "over-ssh", "namespace": "default"}, "data": map[string]any{"via": "ssh"}}
		converge(t, h, "k8s", map[string]any{"definition": def})
		converge(t, h, "k8s", map[string]any{"definition": def, "state": "absent", "wait": true})
	})

	t.Run("gpu_test_pod and logs", func(t *testing.T) {
		// Pod logs are proxied by the API server from the kubelet: one more
		// kind of request through the tunnel.
		m := moduletest.New(t, "gpu_test_pod", seedPodArgs)
		if err := m.Apply(ctx, h, check(t, h, m)); err != nil {
			t.Fatal(err)
		}
	})

	if cc.dials.Load() == 0 || cc.reads.Load() == 0 {
		t.Fatalf("API traffic did not go through the SSH connection: %d dials, %d kubeconfig reads", cc.dials.Load(), cc.reads.Load())
	}
	t.Logf("%d connections to the API server opened through SSH, %d kubeconfig reads over SFTP", cc.dials.Load(), cc.reads.Load())

	t.Run("unreachable from the host", func(t *testing.T) {
		data := strings.Replace(string(cl.Kubeconfig), cl.Server, "https://127.0.0.1:1", 1)
		p := filepath.Join(t.TempDir(), "dead.conf")
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := moduletest.New(t, "label", map[string]any{"labels": map[string]any{"x": "y"}, "kubeconfig": p}).Check(ctx, h)
		t.Log(err)
		if !errors.Is(err, conn.ErrUnreachable) || !strings.Contains(err.Error(), "node/ssh-gpu") ||
			!strings.Contains(err.Error(), "unreachable from host ssh-cp1") {
			t.Fatalf("want unreachable error naming host and node, got %v", err)
		}
	})
}
