package modelserver

import (
	"fmt"
	"path"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/gpuctl/gpuctl/modules/modelserver/manifest"
)

// metricsPath is where gpuctl serve answers Prometheus.
const metricsPath = "/metrics"

// spec is what the objects are made of: the arguments and what Check
// learned (the image and the model).
func (m *ModelServer) spec(image string, lm *loadedModel) manifest.Spec {
	s := manifest.Spec{
		Name: m.Name, Namespace: m.Namespace,
		Image: image, ImagePullPolicy: m.ImagePullPolicy, Command: m.Command,
		Port: m.Port, Replicas: m.Replicas, GPUs: m.GPUs,
		NodeSelector: m.NodeSelector, Tolerations: m.Tolerations,
		ServiceType: m.ServiceType, NodePort: m.NodePort,
		CPURequest: m.CPURequest, MemoryRequest: m.MemoryRequest, MemoryLimit: m.MemoryLimit,
		TerminationGracePeriod: m.TerminationGrace,
		RunAsUser:              m.RunAsUser, RunAsGroup: m.RunAsGroup,
		ReadOnlyRootFilesystem: m.ReadOnlyRoot,
	}
	if m.ScrapeAnnotations {
		s.MetricsPath = metricsPath
	}
	modelPath := ""
	if !lm.Builtin {
		modelPath = path.Join(manifest.ModelDir, lm.Arch)
		if m.ModelFrom != "image" {
			s.Model = manifest.Model{From: m.ModelFrom, HostDir: m.ModelDir, Hash: lm.Combined}
		}
		if m.ModelFrom == "configmap" {
			for _, f := range lm.Files {
				s.Model.Files = append(s.Model.Files, manifest.File{Key: f.Rel, Local: f.Local, Size: f.Size, Text: f.Rel == lm.Arch})
			}
		}
	}
	args := m.flags(fmt.Sprintf("0.0.0.0:%d", m.Port), modelPath)
	if m.DrainDelay > 0 {
		// Before extra_args, which Validate keeps free of --drain-delay.
		args = append(args[:len(args)-len(m.ExtraArgs)], append([]string{"--drain-delay=" + m.DrainDelay.String()}, m.ExtraArgs...)...)
	}
	s.Args = args
	return s
}

// objects are the Kubernetes objects of the server.
func (m *ModelServer) objects(image string, lm *loadedModel) ([]*unstructured.Unstructured, error) {
	objs, err := manifest.Objects(m.spec(image, lm))
	if err != nil && !lm.Builtin {
		return nil, fmt.Errorf("model %s: %w", lm.Arch, err)
	}
	return objs, err
}
