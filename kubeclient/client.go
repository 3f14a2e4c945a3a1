// Package kube is gpuctl's plumbing for talking to a Kubernetes API server
// through a host's connection: client construction from a kubeconfig read on
// the host, server-side apply with dry-run diffs, waiting with progress, and
// explanations of why something is not ready.
//
// The API server is always dialled from the host (conn.Conn.Dial), so it
// never has to be reachable from the machine gpuctl runs on.
package kubeclient

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/gpuctl/gpuctl/conn"
)

// FieldManager owns every field gpuctl sets with server-side apply.
const FieldManager = "gpuctl"

// DefaultKubeconfig is where kubeadm writes the cluster-admin kubeconfig.
const DefaultKubeconfig = "/etc/kubernetes/admin.conf"

// requestTimeout bounds one API request; waits poll, they never watch.
const requestTimeout = 30 * time.Second

// Client reaches one cluster's API server through one host.
type Client struct {
	Host    string // host the API server is reached through, for errors
	Server  string // API server URL from the kubeconfig
	Config  *rest.Config
	Kube    kubernetes.Interface
	Dynamic dynamic.Interface

	disc      discovery.CachedDiscoveryInterface
	mapperMu  sync.Mutex
	mapperVal *restmapper.DeferredDiscoveryRESTMapper
}

// Connect reads the kubeconfig at path on the host and returns a client
// whose connections are dialled from that host.
func Connect(ctx context.Context, c conn.Conn, host, path string) (*Client, error) {
	data, err := c.ReadFile(ctx, path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("kubeconfig %s not found on host %s (is the control plane initialised? set the kubeconfig argument or host variable otherwise): %w", path, host, err)
		}
		return nil, fmt.Errorf("read kubeconfig %s on host %s: %w", path, host, err)
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(data)
	if err != nil {
		return nil, fmt.Errorf("parse kubeconfig %s from host %s: %w", path, host, err)
	}
	return New(cfg, c, host)
}

// New builds a client from cfg, dialling through c.
func New(cfg *rest.Config, c conn.Conn, host string) (*Client, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := c.Dial(ctx, network, addr)
		if err != nil {
			return nil, &UnreachableError{Host: host, Addr: addr, Err: err}
		}
		return nc, nil
	}
	cfg.Timeout = requestTimeout
	cfg.UserAgent = "gpuctl"
	// Defaults (5 qps) make applying a 10-object manifest with dry-run and
	// reads visibly slow; this is one admin client, not a controller.
	cfg.QPS, cfg.Burst = 50, 100
	kc, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kube client for host %s: %w", host, err)
	}
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kube client for host %s: %w", host, err)
	}
	return &Client{
		Host: host, Server: cfg.Host, Config: cfg, Kube: kc, Dynamic: dc,
		disc: memory.NewMemCacheClient(kc.Discovery()),
	}, nil
}

// Mapper maps kinds to resources, discovering lazily and once per client.
func (c *Client) Mapper() meta.ResettableRESTMapper {
	c.mapperMu.Lock()
	defer c.mapperMu.Unlock()
	if c.mapperVal == nil {
		c.mapperVal = restmapper.NewDeferredDiscoveryRESTMapper(c.disc)
	}
	return c.mapperVal
}

// UnreachableError is a failure to open a connection to the API server from
// the host.
type UnreachableError struct {
	Host, Addr string
	Err        error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("API server %s unreachable from host %s: %v", e.Addr, e.Host, e.Err)
}

func (e *UnreachableError) Unwrap() []error { return []error{conn.ErrUnreachable, e.Err} }
