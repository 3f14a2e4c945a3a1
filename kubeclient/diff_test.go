package kubeclient

import (
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/gpuctl/gpuctl/plan"
)

func TestDecode(t *testing.T) {
	objs, err := Decode("m.yaml", []byte("---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n# only a comment\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Secret, metadata: {name: s, namespace: x}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	var refs []string
	for _, o := range objs {
		refs = append(refs, Ref(o))
	}
	if strings.Join(refs, " ") != "configmap/a secret/x/s" {
		t.Fatalf("refs %v", refs)
	}
	for _, bad := range []string{"kind: ConfigMap\nmetadata: {name: a}\n", "apiVersion: v1\nkind: ConfigMap\n", "a: [\n"} {
		if _, err := Decode("bad.yaml", []byte(bad)); err == nil || !strings.Contains(err.Error(), "bad.yaml: document 1") {
			t.Errorf("%q: got %v", bad, err)
		}
	}
}

func TestFromMapsNormalizes(t *testing.T) {
	objs, err := FromMaps("def", []map[string]any{{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[any]any{"name": "a"}, "data": map[string]any{"n": 1}}})
	if err != nil {
		t.Fatal(err)
	}
	if objs[0].GetName() != "a" || !reflect.DeepEqual(objs[0].Object["data"], map[string]any{"n": int64(1)}) {
		t.Fatalf("%v", objs[0].Object)
	}
}

func TestProjectAndChange(t *testing.T) {
	desired := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": map[string]any{"name": "d", "namespace": "n"},
		"spec": map[string]any{"template": map[string]any{"spec": map[string]any{"containers": []any{
			map[string]any{"name": "c", "image": "img:2"}}}}},
	}}
	live := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": "DaemonSet",
		"metadata": map[string]any{"name": "d", "namespace": "n", "resourceVersion": "5", "uid": "u",
			"annotations": map[string]any{"deprecated.daemonset.template.generation": "1"}},
		"spec": map[string]any{"revisionHistoryLimit": int64(10), "template": map[string]any{"spec": map[string]any{"containers": []any{
			map[string]any{"name": "c", "image": "img:1", "imagePullPolicy": "IfNotPresent"}}}}},
		"status": map[string]any{"numberReady": int64(1)},
	}}
	after := live.DeepCopy()
	_ = unstructured.SetNestedField(after.Object, "6", "metadata", "resourceVersion")
	after.Object["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)["image"] = "img:2"

	c := objectChange(desired, live, after, plan.Update)
	if c.Resource != "daemonset/n/d" || c.Field != "spec.template.spec.containers[0].image" || !c.Content {
		t.Fatalf("change %+v", c)
	}
	if strings.Contains(c.Before, "imagePullPolicy") || strings.Contains(c.Before, "revisionHistoryLimit") || strings.Contains(c.Before, "resourceVersion") {
		t.Errorf("before shows fields the manifest does not set:\n%s", c.Before)
	}
	if !strings.Contains(c.Before, "image: img:1") || !strings.Contains(c.After, "image: img:2") {
		t.Errorf("before/after:\n%s\n%s", c.Before, c.After)
	}
	// Only server-maintained fields differ: no change.
	same := live.DeepCopy()
	_ = unstructured.SetNestedField(same.Object, "7", "metadata", "resourceVersion")
	if !reflect.DeepEqual(Normalize(live), Normalize(same)) {
		t.Error("Normalize keeps server-maintained fields")
	}
}

func TestSecretIsSensitive(t *testing.T) {
	s := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": "s"}, "stringData": map[string]any{"p": "hunter2"}}}
	if c := objectChange(s, nil, s, plan.Create); !c.Sensitive {
		t.Fatal("secret change not sensitive")
	}
}
