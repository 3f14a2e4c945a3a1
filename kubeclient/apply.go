package kubeclient

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"

	"github.com/gpuctl/gpuctl/plan"
)

// Planned is one object's outcome of Plan, carried to Apply in Diff.State.
type Planned struct {
	Object *unstructured.Unstructured // desired, with namespace defaulted
	Action plan.Action                // "" when the object is already as desired
	// Live is the object on the server before the change (nil when absent).
	Live *unstructured.Unstructured
}

// PlanOptions tune Plan.
type PlanOptions struct {
	// Namespace for namespaced objects that do not name one.
	Namespace string
	// Delete plans removal instead of apply.
	Delete bool
}

// Plan compares each object with the server. For apply it asks the API
// server for a server-side dry-run apply, so defaulting, admission and
// validation are the server's own, and diffs the result against the live
// object; for delete it looks the object up. The returned diff has one
// change per object that differs, with before/after YAML of the fields the
// manifest sets.
func (c *Client) Plan(ctx context.Context, objs []*unstructured.Unstructured, opts PlanOptions) (plan.Diff, []Planned, error) {
	var d plan.Diff
	var out []Planned
	// Namespaces and CRDs created by this same manifest do not exist yet, so
	// the server cannot dry-run objects that live in or are defined by them.
	newNS := map[string]bool{}
	newKinds := map[schema.GroupKind]bool{}
	for _, o := range objs {
		p := Planned{Object: o.DeepCopy()}
		res, err := c.resource(p.Object, opts.Namespace)
		if err != nil {
			if !meta.IsNoMatchError(err) || !newKinds[p.Object.GroupVersionKind().GroupKind()] || opts.Delete {
				return d, nil, c.Wrap("map", Ref(p.Object), err)
			}
			p.Action = plan.Create
			d.Add(objectChange(p.Object, nil, p.Object, plan.Create))
			d.Note(fmt.Sprintf("%s: its kind is defined by a CustomResourceDefinition in this manifest; the server checks it after apply", Ref(p.Object)))
			out = append(out, p)
			continue
		}
		live, err := res.Get(ctx, p.Object.GetName(), metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			live = nil
		case err != nil:
			return d, nil, c.Wrap("get", Ref(p.Object), err)
		}
		p.Live = live
		if opts.Delete {
			if live != nil {
				p.Action = plan.Delete
				d.Add(objectChange(p.Object, live, nil, plan.Delete))
			}
			out = append(out, p)
			continue
		}
		after, err := c.apply(ctx, res, p.Object, true)
		if err != nil {
			if !newNS[p.Object.GetNamespace()] || !apierrors.IsNotFound(err) {
				return d, nil, c.Wrap("dry-run apply", Ref(p.Object), err)
			}
			// The namespace comes with this manifest; what the server would
			// default is unknown until it exists.
			after = p.Object
		}
		if live == nil {
			p.Action = plan.Create
		} else if !reflect.DeepEqual(Normalize(live), Normalize(after)) {
			p.Action = plan.Update
		}
		if p.Action != "" {
			d.Add(objectChange(p.Object, live, after, p.Action))
		}
		switch {
		case p.Object.GetKind() == "Namespace" && p.Object.GroupVersionKind().Group == "" && live == nil:
			newNS[p.Object.GetName()] = true
		case p.Object.GetKind() == "CustomResourceDefinition" && live == nil:
			if g, found, _ := unstructured.NestedString(p.Object.Object, "spec", "group"); found {
				k, _, _ := unstructured.NestedString(p.Object.Object, "spec", "names", "kind")
				newKinds[schema.GroupKind{Group: g, Kind: k}] = true
			}
		}
		out = append(out, p)
	}
	return d, out, nil
}

// Execute carries out planned changes in order, then waits for deleted
// objects to be gone when wait is set.
func (c *Client) Execute(ctx context.Context, planned []Planned, namespace string) error {
	for _, p := range planned {
		if p.Action == "" {
			continue
		}
		res, err := c.resourceRetry(ctx, p.Object, namespace)
		if err != nil {
			return c.Wrap("map", Ref(p.Object), err)
		}
		if p.Action == plan.Delete {
			bg := metav1.DeletePropagationBackground
			err := res.Delete(ctx, p.Object.GetName(), metav1.DeleteOptions{PropagationPolicy: &bg})
			if err != nil && !apierrors.IsNotFound(err) {
				return c.Wrap("delete", Ref(p.Object), err)
			}
			continue
		}
		if _, err := c.apply(ctx, res, p.Object, false); err != nil {
			return c.Wrap("apply", Ref(p.Object), err)
		}
		if p.Object.GetKind() == "CustomResourceDefinition" {
			// Later objects of this kind need discovery to know it.
			c.Mapper().Reset()
		}
	}
	return nil
}

// ApplyObject applies one object for real (for modules that build their
// objects in code).
func (c *Client) ApplyObject(ctx context.Context, u *unstructured.Unstructured, namespace string) (*unstructured.Unstructured, error) {
	res, err := c.resource(u, namespace)
	if err != nil {
		return nil, c.Wrap("map", Ref(u), err)
	}
	out, err := c.apply(ctx, res, u, false)
	if err != nil {
		return nil, c.Wrap("apply", Ref(u), err)
	}
	return out, nil
}

func (c *Client) apply(ctx context.Context, res dynamic.ResourceInterface, u *unstructured.Unstructured, dryRun bool) (*unstructured.Unstructured, error) {
	body, err := json.Marshal(u.Object)
	if err != nil {
		return nil, err
	}
	force := true
	opts := metav1.PatchOptions{FieldManager: FieldManager, Force: &force}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	return res.Patch(ctx, u.GetName(), types.ApplyPatchType, body, opts)
}

// resource maps u's kind to its REST resource, defaulting its namespace.
func (c *Client) resource(u *unstructured.Unstructured, namespace string) (dynamic.ResourceInterface, error) {
	gvk := u.GroupVersionKind()
	m, err := c.Mapper().RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, err
	}
	if m.Scope.Name() != meta.RESTScopeNameNamespace {
		u.SetNamespace("")
		return c.Dynamic.Resource(m.Resource), nil
	}
	if u.GetNamespace() == "" {
		if namespace == "" {
			namespace = "default"
		}
		u.SetNamespace(namespace)
	}
	return c.Dynamic.Resource(m.Resource).Namespace(u.GetNamespace()), nil
}

// resourceRetry waits for a kind defined by a just-applied CRD to be served.
func (c *Client) resourceRetry(ctx context.Context, u *unstructured.Unstructured, namespace string) (dynamic.ResourceInterface, error) {
	var res dynamic.ResourceInterface
	var lastErr error
	err := wait.PollUntilContextTimeout(ctx, time.Second, 30*time.Second, true, func(context.Context) (bool, error) {
		res, lastErr = c.resource(u, namespace)
		if lastErr == nil {
			return true, nil
		}
		if !meta.IsNoMatchError(lastErr) {
			return false, lastErr
		}
		c.Mapper().Reset()
		return false, nil
	})
	if lastErr != nil {
		return nil, lastErr
	}
	return res, err
}
