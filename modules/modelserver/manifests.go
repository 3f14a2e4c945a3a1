package modelserver

import (
	"encoding/base64"
	"fmt"
	"os"
	"path"
	"sort"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/gpuctl/gpuctl/modules/internal/fileplan"
)

// configMapMax is what fits in one ConfigMap with room for metadata (the
// API server refuses objects over 1 MiB).
const configMapMax = 1000 * 1024

// Annotation on the pod template holding the model's hash, so a model
// change in a ConfigMap or hostPath rolls the pods.
const modelHashAnnotation = "gpuctl.io/model-sha256"

// selectorLabels select the server's pods; they never change after the
// first apply (a Deployment's selector is immutable).
func (m *ModelServer) selectorLabels() map[string]any {
	return map[string]any{"app.kubernetes.io/instance": m.Name, "app.kubernetes.io/name": "gpuctl-model-server"}
}

func (m *ModelServer) labels() map[string]any {
	l := m.selectorLabels()
	l["app.kubernetes.io/managed-by"] = "gpuctl"
	return l
}

func (m *ModelServer) meta(name string) map[string]any {
	return map[string]any{"name": name, "namespace": m.Namespace, "labels": m.labels()}
}

func (m *ModelServer) configMapName() string { return m.Name + "-model" }

// objects are the Kubernetes objects of the server, as unstructured maps
// with int64 numbers (what unstructured's deep copy requires).
func (m *ModelServer) objects(image string, lm *loadedModel) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	modelPath := ""
	var volumes, mounts []any
	podAnn := map[string]any{}
	if !lm.Builtin {
		modelPath = path.Join(imageModelDir, lm.Arch)
		switch m.ModelFrom {
		case "configmap":
			cm, err := m.configMap(lm)
			if err != nil {
				return nil, err
			}
			out = append(out, cm)
			volumes = append(volumes, map[string]any{"name": "model", "configMap": map[string]any{"name": m.configMapName()}})
		case "host_path":
			volumes = append(volumes, map[string]any{"name": "model", "hostPath": map[string]any{"path": m.ModelDir, "type": "Directory"}})
		}
		if m.ModelFrom != "image" {
			mounts = append(mounts, map[string]any{"name": "model", "mountPath": imageModelDir, "readOnly": true})
			podAnn[modelHashAnnotation] = lm.Combined
		}
	}
	container := map[string]any{
		"name":            "server",
		"image":           image,
		"imagePullPolicy": m.ImagePullPolicy,
		"args":            strs(m.flags(fmt.Sprintf("0.0.0.0:%d", m.Port), modelPath)),
		"ports":           []any{map[string]any{"name": "http", "containerPort": int64(m.Port), "protocol": "TCP"}},
		"readinessProbe":  probe("/v2/health/ready", 0, 5),
		"livenessProbe":   probe("/v2/health/live", 10, 10),
		"securityContext": map[string]any{"allowPrivilegeEscalation": false},
	}
	if len(m.Command) > 0 {
		container["command"] = strs(m.Command)
	}
	if len(mounts) > 0 {
		container["volumeMounts"] = mounts
	}
	limits, requests := map[string]any{}, map[string]any{}
	if m.GPUs > 0 {
		limits["nvidia.com/gpu"] = int64(m.GPUs)
	}
	if m.CPU != "" {
		requests["cpu"] = m.CPU
	}
	if m.Memory != "" {
		requests["memory"], limits["memory"] = m.Memory, m.Memory
	}
	if len(limits)+len(requests) > 0 {
		res := map[string]any{}
		if len(limits) > 0 {
			res["limits"] = limits
		}
		if len(requests) > 0 {
			res["requests"] = requests
		}
		container["resources"] = res
	}
	podSpec := map[string]any{
		"containers": []any{container},
		// Long enough for --drain-delay-style draining of in-flight requests.
		"terminationGracePeriodSeconds": int64(30),
	}
	if len(m.NodeSelector) > 0 {
		ns := map[string]any{}
		for k, v := range m.NodeSelector {
			ns[k] = v
		}
		podSpec["nodeSelector"] = ns
	}
	if len(m.Tolerations) > 0 {
		var tol []any
		for _, t := range m.Tolerations {
			tt := map[string]any{}
			for k, v := range t {
				switch x := v.(type) {
				case int:
					tt[k] = int64(x)
				case bool:
					tt[k] = fmt.Sprint(x)
				default:
					tt[k] = x
				}
			}
			tol = append(tol, tt)
		}
		podSpec["tolerations"] = tol
	}
	if len(volumes) > 0 {
		podSpec["volumes"] = volumes
	}
	tmplMeta := map[string]any{"labels": m.labels()}
	if len(podAnn) > 0 {
		tmplMeta["annotations"] = podAnn
	}
	spec := map[string]any{
		"replicas": int64(m.Replicas),
		"selector": map[string]any{"matchLabels": m.selectorLabels()},
		"template": map[string]any{"metadata": tmplMeta, "spec": podSpec},
	}
	if m.GPUs > 0 {
		// A surge pod would wait for a GPU the old pod holds: on a node
		// with one GPU the default rolling update never finishes. Replace
		// pods one at a time instead.
		spec["strategy"] = map[string]any{"type": "RollingUpdate", "rollingUpdate": map[string]any{"maxSurge": int64(0), "maxUnavailable": int64(1)}}
	}
	out = append(out, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1",
		"kind":       "Deployment",
		"metadata":   m.meta(m.Name),
		"spec":       spec,
	}})
	port := map[string]any{"name": "http", "port": int64(m.Port), "targetPort": "http", "protocol": "TCP"}
	if m.NodePort != 0 {
		port["nodePort"] = int64(m.NodePort)
	}
	out = append(out, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1",
		"kind":       "Service",
		"metadata":   m.meta(m.Name),
		"spec": map[string]any{
			"type":     m.ServiceType,
			"selector": m.selectorLabels(),
			"ports":    []any{port},
		},
	}})
	return out, nil
}

func probe(p string, delay, period int64) map[string]any {
	pr := map[string]any{
		"httpGet":          map[string]any{"path": p, "port": "http"},
		"periodSeconds":    period,
		"timeoutSeconds":   int64(2),
		"failureThreshold": int64(3),
	}
	if delay > 0 {
		pr["initialDelaySeconds"] = delay
	}
	return pr
}

// configMap carries small model files: the architecture as text, the
// weights as binary data.
func (m *ModelServer) configMap(lm *loadedModel) (*unstructured.Unstructured, error) {
	var total int64
	for _, f := range lm.Files {
		total += f.Size
	}
	if total > configMapMax {
		return nil, fmt.Errorf("model %s is %s; a ConfigMap holds at most 1 MiB: use model_from: image (the built image) or host_path", lm.Arch, fileplan.HumanBytes(total))
	}
	data, bin := map[string]any{}, map[string]any{}
	files := append([]modelFile(nil), lm.Files...)
	sort.Slice(files, func(i, j int) bool { return files[i].Rel < files[j].Rel })
	for _, f := range files {
		if path.Base(f.Rel) != f.Rel {
			return nil, fmt.Errorf("model file %s: a ConfigMap key cannot hold a directory; put the weights beside the architecture file or use model_from: image or host_path", f.Rel)
		}
		b, err := os.ReadFile(f.Local)
		if err != nil {
			return nil, fmt.Errorf("model file: %w", err)
		}
		if f.Rel == lm.Arch {
			data[f.Rel] = string(b)
		} else {
			bin[f.Rel] = base64.StdEncoding.EncodeToString(b)
		}
	}
	obj := map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": m.meta(m.configMapName()), "data": data}
	if len(bin) > 0 {
		obj["binaryData"] = bin
	}
	return &unstructured.Unstructured{Object: obj}, nil
}

func strs(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}
