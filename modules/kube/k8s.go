package kube

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/gpuctl/gpuctl/kubeclient"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:      "k8s",
		Summary:   "Apply or delete Kubernetes objects with server-side apply",
		CheckMode: "asks the API server for a server-side dry-run and shows a field diff of each object; changes nothing",
		Example: `k8s:
  definition:
    apiVersion: v1
    kind: Namespace
    metadata: {name: inference}`,
		New: func() modules.Module { return &K8s{} },
	})
}

// K8s applies (server-side, field manager gpuctl) or deletes the objects of
// a manifest given inline, as a file, or as a template.
type K8s struct {
	Access     `yaml:",squash"`
	State      string        `yaml:"state" default:"present" choices:"present,absent" doc:"present applies the objects, absent deletes them"`
	Definition any           `yaml:"definition" doc:"inline manifest: a mapping, a list of mappings, or a YAML string with --- separated documents"`
	Src        string        `yaml:"src" doc:"manifest file on the machine gpuctl runs on"`
	Template   string        `yaml:"template" doc:"manifest template on the machine gpuctl runs on, rendered with the host's variables"`
	Namespace  string        `yaml:"namespace" doc:"namespace for namespaced objects that do not name one (default: default)"`
	Wait       bool          `yaml:"wait" doc:"after apply, wait until DaemonSets and Deployments are rolled out and Pods are running; after delete, until the objects are gone"`
	Timeout    time.Duration `yaml:"timeout" doc:"how long wait may take (default 5m)"`

	objs []*unstructured.Unstructured // parsed inline definition
}

func (m *K8s) Validate() error {
	orDefault(&m.Timeout, 5*time.Minute)
	n := 0
	for _, set := range []bool{m.Definition != nil, m.Src != "", m.Template != ""} {
		if set {
			n++
		}
	}
	if n != 1 {
		return errors.New("give exactly one of definition, src or template")
	}
	if m.Definition != nil {
		objs, err := parseDefinition(m.Definition)
		if err != nil {
			return err
		}
		if len(objs) == 0 {
			return errors.New("definition holds no objects")
		}
		m.objs = objs
	}
	return nil
}

func parseDefinition(def any) ([]*unstructured.Unstructured, error) {
	switch d := def.(type) {
	case string:
		return kubeclient.Decode("definition", []byte(d))
	case map[string]any:
		return kubeclient.FromMaps("definition", []map[string]any{d})
	case []any:
		var docs []map[string]any
		for i, e := range d {
			mm, ok := e.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("definition: item %d is a %T, not a mapping", i+1, e)
			}
			docs = append(docs, mm)
		}
		return kubeclient.FromMaps("definition", docs)
	}
	return nil, fmt.Errorf("definition must be a mapping, a list of mappings or a string, not %T", def)
}

func (m *K8s) load(ctx context.Context, h modules.Host) ([]*unstructured.Unstructured, error) {
	if m.objs != nil {
		return m.objs, nil
	}
	path := m.Src
	if path == "" {
		path = m.Template
	}
	data, err := readManifest(ctx, h, path)
	if err != nil {
		return nil, err
	}
	if m.Template != "" {
		s, err := h.Render(string(data))
		if err != nil {
			return nil, fmt.Errorf("render template %s: %w", path, err)
		}
		data = []byte(s)
	}
	objs, err := kubeclient.Decode(path, data)
	if err == nil && len(objs) == 0 {
		err = fmt.Errorf("%s holds no objects", path)
	}
	return objs, err
}

type k8sState struct {
	client  *kubeclient.Client
	planned []kubeclient.Planned
}

func (m *K8s) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	objs, err := m.load(ctx, h)
	if err != nil {
		return plan.Diff{}, err
	}
	c, err := m.client(ctx, h)
	if err != nil {
		return noCluster(h, err)
	}
	d, planned, err := c.Plan(ctx, objs, kubeclient.PlanOptions{Namespace: m.Namespace, Delete: m.State == "absent"})
	if err != nil {
		return plan.Diff{}, err
	}
	d.State = &k8sState{client: c, planned: planned}
	return d, nil
}

func (m *K8s) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	st, err := modules.StateOf[*k8sState](h, "k8s", d)
	if err != nil {
		return err
	}
	if err := st.client.Execute(ctx, st.planned, m.Namespace); err != nil {
		return err
	}
	if !m.Wait {
		return nil
	}
	for _, p := range st.planned {
		if p.Action == "" {
			continue
		}
		if err := waitObject(ctx, h, st.client, p, m.Timeout); err != nil {
			return err
		}
	}
	return nil
}

var (
	_ modules.Module = (*K8s)(nil)
)
