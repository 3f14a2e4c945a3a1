package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/gpuctl/gpuctl/kubeclient"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:      "label",
		Summary:   "Add and remove labels on a Kubernetes node",
		CheckMode: "compares the node's labels and dry-runs the patch on the API server; changes nothing",
		Example: `label:
  labels: {gpu: "true"}`,
		New: func() modules.Module { return &Label{} },
	})
}

// Label sets and removes node labels (the seed's `kubectl label node n gpu=true`).
type Label struct {
	Access `yaml:",squash"`
	Node   string            `yaml:"node" doc:"node name; default: the host's node (host variable node_name, else its hostname)"`
	Labels map[string]string `yaml:"labels" doc:"labels the node must have, with their values"`
	Remove []string          `yaml:"remove" doc:"label keys the node must not have"`
}

func (m *Label) Validate() error {
	if len(m.Labels) == 0 && len(m.Remove) == 0 {
		return errors.New("give labels to set or keys to remove")
	}
	for k, v := range m.Labels {
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return fmt.Errorf("label key %q: %s", k, strings.Join(errs, "; "))
		}
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			return fmt.Errorf("label %s value %q: %s", k, v, strings.Join(errs, "; "))
		}
	}
	for _, k := range m.Remove {
		if _, both := m.Labels[k]; both {
			return fmt.Errorf("label %q is both set and removed", k)
		}
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return fmt.Errorf("label key %q: %s", k, strings.Join(errs, "; "))
		}
	}
	return nil
}

type nodePatch struct {
	client *kubeclient.Client
	node   string
	patch  []byte
}

func (m *Label) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	var d plan.Diff
	c, err := m.client(ctx, h)
	if err != nil {
		return noCluster(h, err)
	}
	node, err := nodeName(ctx, h, m.Node)
	if err != nil {
		return plan.Diff{}, err
	}
	ref := "node/" + node
	n, err := c.Kube.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		return d, c.Wrap("get", ref, err)
	}
	patch := map[string]any{}
	for _, k := range sortedKeys(m.Labels) {
		v := m.Labels[k]
		old, had := n.Labels[k]
		if had && old == v {
			continue
		}
		ch := plan.Change{Resource: ref, Action: plan.Update, Field: "label " + k, Before: old, After: v}
		if !had {
			ch.Before = "(unset)"
		}
		d.Add(ch)
		patch[k] = v
	}
	for _, k := range m.Remove {
		if old, had := n.Labels[k]; had {
			d.Add(plan.Change{Resource: ref, Action: plan.Update, Field: "label " + k, Before: old, After: "(unset)"})
			patch[k] = nil
		}
	}
	if len(patch) == 0 {
		return d, nil
	}
	body, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": patch}})
	// The API server validates the patch now, so a bad value fails in check
	// mode too.
	st := &nodePatch{client: c, node: node, patch: body}
	if err := st.send(ctx, true); err != nil {
		return d, err
	}
	d.State = st
	return d, nil
}

func (m *Label) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	st, err := modules.StateOf[*nodePatch](h, "label", d)
	if err != nil {
		return err
	}
	return st.send(ctx, false)
}

// send applies the label patch, as a dry run on the API server in check
// mode and for real in Apply: one code path.
func (st *nodePatch) send(ctx context.Context, dry bool) error {
	_, err := st.client.Kube.CoreV1().Nodes().Patch(ctx, st.node, types.MergePatchType, st.patch,
		metav1.PatchOptions{FieldManager: kubeclient.FieldManager, DryRun: dryRun(dry)})
	op := "label"
	if dry {
		op = "dry-run label"
	}
	return st.client.Wrap(op, "node/"+st.node, err)
}

// dryRun is the API server's dry-run option when dry is set: the write is
// validated and admitted but not stored.
func dryRun(dry bool) []string {
	if dry {
		return []string{metav1.DryRunAll}
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

var _ modules.Module = (*Label)(nil)
