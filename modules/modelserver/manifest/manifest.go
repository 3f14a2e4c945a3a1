// Package manifest builds the model server's Kubernetes objects. It is the
// one source of them: the model_server module applies what it returns, and
// runtime/deploy/*.yaml are generated from it (TestDeployManifests in
// modules/modelserver runs it through the module's arguments), so the
// manifests for kubectl cannot drift from what gpuctl deploys.
package manifest

import (
	"encoding/base64"
	"fmt"
	"os"
	"path"
	"sort"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/gpuctl/gpuctl/modules/internal/fileplan"
)

const (
	// ContainerName is the server's container: logs are read from it.
	ContainerName = "server"
	// ModelDir is where model files are in the container.
	ModelDir = "/models"
	// TmpDir is the writable emptyDir of a read-only root filesystem.
	TmpDir = "/tmp"
	// ModelHashAnnotation on the pod template holds the model's hash, so
	// a model change in a ConfigMap or hostPath rolls the pods.
	ModelHashAnnotation = "gpuctl.io/model-sha256"
	// configMapMax is what fits in one ConfigMap with room for metadata
	// (the API server refuses objects over 1 MiB).
	configMapMax = 1000 * 1024
)

// Spec is what the objects are made of: the module's arguments after
// defaults, and what Check learned (the image, the model).
type Spec struct {
	Name, Namespace string
	Image           string
	ImagePullPolicy string
	Command         []string // empty: the image's entrypoint
	Args            []string // the server's flags
	Port            int
	Replicas        int
	GPUs            int // nvidia.com/gpu limit; 0 sets none
	NodeSelector    map[string]string
	Tolerations     []map[string]any
	ServiceType     string
	NodePort        int

	// Resources; an empty string sets none.
	CPURequest, MemoryRequest, MemoryLimit string
	// TerminationGracePeriod must outlast the server's drain delay plus
	// its shutdown timeout, or SIGKILL cuts a drain short.
	TerminationGracePeriod time.Duration
	// RunAsUser and RunAsGroup: a user of 0 leaves the image's user and
	// group (and drops runAsNonRoot, which a root image would fail).
	RunAsUser, RunAsGroup  int64
	ReadOnlyRootFilesystem bool
	// MetricsPath, when set, adds the prometheus.io scrape annotations.
	MetricsPath string

	Model Model
}

// Model says how model files reach the pod.
type Model struct {
	From    string // "configmap" or "host_path"; "" when baked in or built in
	HostDir string // host_path: the directory on the node
	Hash    string // of every file, for the rollout annotation
	Files   []File // configmap: the files
}

// File is one model file for a ConfigMap.
type File struct {
	Key   string // file name in the model directory
	Local string // path on the controller
	Size  int64
	Text  bool // goes in data, else binaryData
}

// SelectorLabels select the server's pods; they never change after the
// first apply (a Deployment's selector is immutable).
func SelectorLabels(name string) map[string]string {
	return map[string]string{"app.kubernetes.io/instance": name, "app.kubernetes.io/name": "gpuctl-model-server"}
}

// ConfigMapName is the name of the ConfigMap with the model files.
func ConfigMapName(name string) string { return name + "-model" }

func (s *Spec) labels() map[string]any {
	l := anyMap(SelectorLabels(s.Name))
	l["app.kubernetes.io/managed-by"] = "gpuctl"
	return l
}

func (s *Spec) meta(name string) map[string]any {
	return map[string]any{"name": name, "namespace": s.Namespace, "labels": s.labels()}
}

// Objects are the ConfigMap (model_from configmap), Deployment and
// Service, as unstructured maps with int64 numbers (what unstructured's
// deep copy requires).
func Objects(s Spec) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	if s.Model.From == "configmap" {
		cm, err := s.configMap()
		if err != nil {
			return nil, err
		}
		out = append(out, cm)
	}
	out = append(out, s.deployment(), s.service())
	return out, nil
}

// Namespace is the namespace object; the module expects it to exist, the
// generated manifests create it.
func Namespace(name string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Namespace",
		"metadata": map[string]any{"name": name, "labels": map[string]any{"app.kubernetes.io/managed-by": "gpuctl"}},
	}}
}

func (s *Spec) deployment() *unstructured.Unstructured {
	// The CUDA JIT cache defaults to $HOME/.nv; with a read-only root and
	// no home for the run-as user it must live in the writable /tmp.
	volumes := []any{map[string]any{"name": "tmp", "emptyDir": map[string]any{}}}
	mounts := []any{map[string]any{"name": "tmp", "mountPath": TmpDir}}
	podAnn := map[string]any{}
	switch s.Model.From {
	case "configmap":
		volumes = append(volumes, map[string]any{"name": "model", "configMap": map[string]any{"name": ConfigMapName(s.Name)}})
	case "host_path":
		volumes = append(volumes, map[string]any{"name": "model", "hostPath": map[string]any{"path": s.Model.HostDir, "type": "Directory"}})
	}
	if s.Model.From != "" {
		mounts = append(mounts, map[string]any{"name": "model", "mountPath": ModelDir, "readOnly": true})
		podAnn[ModelHashAnnotation] = s.Model.Hash
	}
	if s.MetricsPath != "" {
		podAnn["prometheus.io/scrape"] = "true"
		podAnn["prometheus.io/port"] = strconv.Itoa(s.Port)
		podAnn["prometheus.io/path"] = s.MetricsPath
	}
	container := map[string]any{
		"name":            ContainerName,
		"image":           s.Image,
		"imagePullPolicy": s.ImagePullPolicy,
		"args":            strs(s.Args),
		"env":             []any{map[string]any{"name": "CUDA_CACHE_PATH", "value": path.Join(TmpDir, "cuda-cache")}},
		"ports":           []any{map[string]any{"name": "http", "containerPort": int64(s.Port), "protocol": "TCP"}},
		// Model loading and CUDA initialisation may take a while; the
		// startup probe holds the others off until the server is live
		// (up to 2 minutes) instead of a guessed initial delay.
		"startupProbe": probe("/v2/health/live", 2, 60),
		// Readiness turns false while draining after SIGTERM, so the
		// Service stops sending before the listener closes.
		"readinessProbe":  probe("/v2/health/ready", 2, 1),
		"livenessProbe":   probe("/v2/health/live", 10, 3),
		"securityContext": s.containerSecurity(),
		"volumeMounts":    mounts,
	}
	if len(s.Command) > 0 {
		container["command"] = strs(s.Command)
	}
	if res := s.resources(); len(res) > 0 {
		container["resources"] = res
	}
	podSpec := map[string]any{
		"containers":                    []any{container},
		"terminationGracePeriodSeconds": int64(s.TerminationGracePeriod / time.Second),
		"securityContext":               s.podSecurity(),
		"volumes":                       volumes,
	}
	if len(s.NodeSelector) > 0 {
		podSpec["nodeSelector"] = anyMap(s.NodeSelector)
	}
	if len(s.Tolerations) > 0 {
		podSpec["tolerations"] = tolerations(s.Tolerations)
	}
	tmplMeta := map[string]any{"labels": s.labels()}
	if len(podAnn) > 0 {
		tmplMeta["annotations"] = podAnn
	}
	spec := map[string]any{
		"replicas": int64(s.Replicas),
		"selector": map[string]any{"matchLabels": anyMap(SelectorLabels(s.Name))},
		"template": map[string]any{"metadata": tmplMeta, "spec": podSpec},
	}
	if s.GPUs > 0 {
		// A surge pod would wait for a GPU the old pod holds: on a node
		// with one GPU the default rolling update never finishes. Replace
		// pods one at a time instead.
		spec["strategy"] = map[string]any{"type": "RollingUpdate", "rollingUpdate": map[string]any{"maxSurge": int64(0), "maxUnavailable": int64(1)}}
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1",
		"kind":       "Deployment",
		"metadata":   s.meta(s.Name),
		"spec":       spec,
	}}
}

func (s *Spec) podSecurity() map[string]any {
	sc := map[string]any{"seccompProfile": map[string]any{"type": "RuntimeDefault"}}
	// Root (0) keeps the image's user and group: a group without the
	// user would be a root process in an odd group.
	if s.RunAsUser != 0 {
		sc["runAsNonRoot"] = true
		sc["runAsUser"] = s.RunAsUser
		if s.RunAsGroup != 0 {
			sc["runAsGroup"] = s.RunAsGroup
		}
	}
	return sc
}

func (s *Spec) containerSecurity() map[string]any {
	return map[string]any{
		"allowPrivilegeEscalation": false,
		"readOnlyRootFilesystem":   s.ReadOnlyRootFilesystem,
		"capabilities":             map[string]any{"drop": []any{"ALL"}},
	}
}

func (s *Spec) resources() map[string]any {
	limits, requests := map[string]any{}, map[string]any{}
	if s.GPUs > 0 {
		limits["nvidia.com/gpu"] = int64(s.GPUs)
	}
	if s.MemoryLimit != "" {
		limits["memory"] = s.MemoryLimit
	}
	if s.CPURequest != "" {
		requests["cpu"] = s.CPURequest
	}
	if s.MemoryRequest != "" {
		requests["memory"] = s.MemoryRequest
	}
	res := map[string]any{}
	if len(limits) > 0 {
		res["limits"] = limits
	}
	if len(requests) > 0 {
		res["requests"] = requests
	}
	return res
}

func (s *Spec) service() *unstructured.Unstructured {
	port := map[string]any{"name": "http", "port": int64(s.Port), "targetPort": "http", "protocol": "TCP"}
	if s.NodePort != 0 {
		port["nodePort"] = int64(s.NodePort)
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1",
		"kind":       "Service",
		"metadata":   s.meta(s.Name),
		"spec": map[string]any{
			"type":     s.ServiceType,
			"selector": anyMap(SelectorLabels(s.Name)),
			"ports":    []any{port},
		},
	}}
}

func probe(p string, period, failures int64) map[string]any {
	return map[string]any{
		"httpGet":          map[string]any{"path": p, "port": "http"},
		"periodSeconds":    period,
		"timeoutSeconds":   int64(2),
		"failureThreshold": failures,
	}
}

// configMap carries small model files: the architecture as text, the
// weights as binary data.
func (s *Spec) configMap() (*unstructured.Unstructured, error) {
	var total int64
	for _, f := range s.Model.Files {
		total += f.Size
	}
	if total > configMapMax {
		return nil, fmt.Errorf("model files are %s; a ConfigMap holds at most 1 MiB: use model_from: image (the built image) or host_path", fileplan.HumanBytes(total))
	}
	data, bin := map[string]any{}, map[string]any{}
	files := append([]File(nil), s.Model.Files...)
	sort.Slice(files, func(i, j int) bool { return files[i].Key < files[j].Key })
	for _, f := range files {
		if path.Base(f.Key) != f.Key {
			return nil, fmt.Errorf("model file %s: a ConfigMap key cannot hold a directory; put the weights beside the architecture file or use model_from: image or host_path", f.Key)
		}
		b, err := os.ReadFile(f.Local)
		if err != nil {
			return nil, fmt.Errorf("model file: %w", err)
		}
		if f.Text {
			data[f.Key] = string(b)
		} else {
			bin[f.Key] = base64.StdEncoding.EncodeToString(b)
		}
	}
	obj := map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": s.meta(ConfigMapName(s.Name)), "data": data}
	if len(bin) > 0 {
		obj["binaryData"] = bin
	}
	return &unstructured.Unstructured{Object: obj}, nil
}

// tolerations converts decoded YAML values to what unstructured allows:
// int64 numbers, and strings where Kubernetes wants them (value: true).
func tolerations(in []map[string]any) []any {
	var out []any
	for _, t := range in {
		tt := map[string]any{}
		for k, v := range t {
			switch x := v.(type) {
			case int:
				tt[k] = int64(x)
			case bool:
				tt[k] = strconv.FormatBool(x)
			default:
				tt[k] = x
			}
		}
		out = append(out, tt)
	}
	return out
}

func anyMap(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func strs(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}
