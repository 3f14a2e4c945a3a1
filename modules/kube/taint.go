package kube

import (
	"context"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/util/retry"

	"github.com/gpuctl/gpuctl/kubeclient"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:      "taint",
		Summary:   "Add and remove taints on a Kubernetes node",
		CheckMode: "compares the node's taints and dry-runs the update on the API server; changes nothing",
		Example: `# let workloads run on a single-node cluster's control plane
taint:
  state: absent
  taints:
    - key: node-role.kubernetes.io/control-plane
    - key: node-role.kubernetes.io/master`,
		New: func() modules.Module { return &Taint{} },
	})
}

// TaintSpec is one taint. When removing, an empty effect or value matches any.
type TaintSpec struct {
	Key    string `yaml:"key" doc:"taint key"`
	Value  string `yaml:"value" doc:"taint value"`
	Effect string `yaml:"effect" doc:"NoSchedule, PreferNoSchedule or NoExecute (default NoSchedule when adding; any when removing)"`
}

// Taint adds or removes node taints (the seed's `kubectl taint nodes n
// gpu-only=true:NoSchedule`, and removing the control-plane taint).
type Taint struct {
	Access `yaml:",squash"`
	Node   string      `yaml:"node" doc:"node name; default: the host's node (host variable node_name, else its hostname)"`
	State  string      `yaml:"state" default:"present" choices:"present,absent" doc:"present adds the taints, absent removes them"`
	Key    string      `yaml:"key" doc:"key of a single taint (shorthand for taints)"`
	Value  string      `yaml:"value" doc:"value of the single taint"`
	Effect string      `yaml:"effect" doc:"effect of the single taint"`
	Taints []TaintSpec `yaml:"taints" doc:"taints, each with key, value and effect"`
}

// Provision folds the one-taint form (key, value, effect) into taints and
// gives present taints the default effect.
func (m *Taint) Provision() {
	if m.Key != "" {
		m.Taints = append([]TaintSpec{{Key: m.Key, Value: m.Value, Effect: m.Effect}}, m.Taints...)
		m.Key, m.Value, m.Effect = "", "", ""
	}
	for i := range m.Taints {
		if m.Taints[i].Effect == "" && m.State == "present" {
			m.Taints[i].Effect = string(corev1.TaintEffectNoSchedule)
		}
	}
}

func (m *Taint) Validate() error {
	if m.Key == "" && (m.Value != "" || m.Effect != "") {
		return errors.New("value and effect need key")
	}
	if len(m.Taints) == 0 {
		return errors.New("give key or taints")
	}
	for _, t := range m.Taints {
		if errs := validation.IsQualifiedName(t.Key); len(errs) > 0 {
			return fmt.Errorf("taint key %q: %s", t.Key, strings.Join(errs, "; "))
		}
		if t.Value != "" {
			if errs := validation.IsValidLabelValue(t.Value); len(errs) > 0 {
				return fmt.Errorf("taint %s value %q: %s", t.Key, t.Value, strings.Join(errs, "; "))
			}
		}
		switch corev1.TaintEffect(t.Effect) {
		case corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
		case "":
		default:
			return fmt.Errorf("taint %s effect %q: expected NoSchedule, PreferNoSchedule or NoExecute", t.Key, t.Effect)
		}
	}
	return nil
}

// desired returns the node's taints after the change.
func (m *Taint) desired(cur []corev1.Taint) []corev1.Taint {
	out := append([]corev1.Taint{}, cur...)
	for _, s := range m.Taints {
		if m.State == "absent" {
			out = removeTaint(out, s)
			continue
		}
		want := corev1.Taint{Key: s.Key, Value: s.Value, Effect: corev1.TaintEffect(s.Effect)}
		found := false
		for i := range out {
			// A taint is identified by key and effect; the value is an attribute.
			if out[i].Key == want.Key && out[i].Effect == want.Effect {
				out[i].Value, found = want.Value, true
			}
		}
		if !found {
			out = append(out, want)
		}
	}
	return out
}

func removeTaint(ts []corev1.Taint, s TaintSpec) []corev1.Taint {
	var out []corev1.Taint
	for _, t := range ts {
		match := t.Key == s.Key && (s.Effect == "" || string(t.Effect) == s.Effect) && (s.Value == "" || t.Value == s.Value)
		if !match {
			out = append(out, t)
		}
	}
	return out
}

func taintSet(ts []corev1.Taint) map[string]string {
	out := map[string]string{}
	for _, t := range ts {
		out[t.Key+":"+string(t.Effect)] = kubeclient.TaintString(t)
	}
	return out
}

type taintState struct {
	client *kubeclient.Client
	node   string
}

func (m *Taint) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
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
	before, after := taintSet(n.Spec.Taints), taintSet(m.desired(n.Spec.Taints))
	for _, id := range sortedKeys(before) {
		if a, ok := after[id]; !ok {
			d.Add(plan.Change{Resource: ref, Action: plan.Update, Field: "taint " + id, Before: before[id], After: "(none)"})
		} else if a != before[id] {
			d.Add(plan.Change{Resource: ref, Action: plan.Update, Field: "taint " + id, Before: before[id], After: a})
		}
	}
	for _, id := range sortedKeys(after) {
		if _, ok := before[id]; !ok {
			d.Add(plan.Change{Resource: ref, Action: plan.Update, Field: "taint " + id, Before: "(none)", After: after[id]})
		}
	}
	if d.Empty() {
		return d, nil
	}
	// The API server validates and admits the update now, so a bad taint
	// fails in check mode too.
	st := &taintState{client: c, node: node}
	if err := st.write(ctx, m, true); err != nil {
		return d, err
	}
	d.State = st
	return d, nil
}

func (m *Taint) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	st, err := modules.StateOf[*taintState](h, "taint", d)
	if err != nil {
		return err
	}
	return st.write(ctx, m, false)
}

// write sets the node's taints to m's desired ones, as a dry run on the
// API server in check mode and for real in Apply: one code path. The
// kubelet updates the node all the time, so a stale read is retried
// rather than its changes overwritten.
func (st *taintState) write(ctx context.Context, m *Taint, dry bool) error {
	nodes := st.client.Kube.CoreV1().Nodes()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := nodes.Get(ctx, st.node, metav1.GetOptions{})
		if err != nil {
			return err
		}
		n.Spec.Taints = m.desired(n.Spec.Taints)
		_, err = nodes.Update(ctx, n, metav1.UpdateOptions{FieldManager: kubeclient.FieldManager, DryRun: dryRun(dry)})
		return err
	})
	op := "taint"
	if dry {
		op = "dry-run taint"
	}
	return st.client.Wrap(op, "node/"+st.node, err)
}

var _ modules.Module = (*Taint)(nil)
