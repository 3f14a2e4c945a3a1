package manifest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func spec() Spec {
	return Spec{Name: "ms", Namespace: "default", Image: "r.io/s:v1", ImagePullPolicy: "IfNotPresent", Port: 8000, Replicas: 1,
		ServiceType: "ClusterIP", TerminationGracePeriod: 45 * time.Second, RunAsUser: 65532, RunAsGroup: 65532, ReadOnlyRootFilesystem: true}
}

// The objects survive unstructured's deep copy (which panics on int and
// other types it does not allow) and name the pods' labels consistently.
func TestObjectsDeepCopy(t *testing.T) {
	s := spec()
	s.GPUs, s.NodePort, s.ServiceType = 1, 31000, "NodePort"
	s.Tolerations = []map[string]any{{"key": "k", "value": true, "tolerationSeconds": 5}}
	objs, err := Objects(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range append(objs, Namespace("n")) {
		o.DeepCopy()
	}
}

// A root user keeps the image's group too; runAsNonRoot would refuse it.
func TestPodSecurityRoot(t *testing.T) {
	s := spec()
	s.RunAsUser = 0
	sc := s.podSecurity()
	for _, k := range []string{"runAsNonRoot", "runAsUser", "runAsGroup"} {
		if _, ok := sc[k]; ok {
			t.Errorf("root pod sets %s: %v", k, sc)
		}
	}
	if sc["seccompProfile"] == nil {
		t.Error("seccomp stays on for root")
	}
}

func TestConfigMapLimits(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "m.json")
	os.WriteFile(p, []byte("{}"), 0o644)
	s := spec()
	s.Model = Model{From: "configmap", Hash: "h", Files: []File{{Key: "m.json", Local: p, Size: 2 << 20, Text: true}}}
	if _, err := Objects(s); err == nil || !strings.Contains(err.Error(), "at most 1 MiB") {
		t.Errorf("big model: %v", err)
	}
	s.Model.Files = []File{{Key: "sub/m.json", Local: p, Size: 2, Text: true}}
	if _, err := Objects(s); err == nil || !strings.Contains(err.Error(), "directory") {
		t.Errorf("nested key: %v", err)
	}
	s.Model.Files = []File{{Key: "m.json", Local: p, Size: 2, Text: true}}
	objs, err := Objects(s)
	if err != nil || objs[0].GetKind() != "ConfigMap" || objs[0].GetName() != "ms-model" {
		t.Fatalf("configmap: %v %v", objs, err)
	}
}
