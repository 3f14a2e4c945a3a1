package modelserver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/modelserver/image"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:    "model_server",
		Summary: "Deploy gpuctl's model server (gpuctl serve) on Kubernetes or as a systemd unit, and check it answers a prediction",
		CheckMode: "Kubernetes: builds the image in memory to learn its tag (nothing is written), compares it with containerd's images " +
			"and shows the server-side dry-run diff of the Deployment, Service and ConfigMap. Host: compares the binary, model files " +
			"and unit file by hash and the unit's state. Changes nothing and sends no request.",
		Example: `- name: Serve the seed model on the GPU node
  model_server:
    mode: kubernetes          # Deployment + Service; host: a systemd unit
    name: model-server
    gpus: 1                   # nvidia.com/gpu limit; 0 for the CPU path
    # image: registry.example.com/gpuctl-serve:v1   # else gpuctl builds and imports one`,
		New: func() modules.Module { return &ModelServer{} },
	})
}

// ModelServer deploys `gpuctl serve` and proves it answers.
type ModelServer struct {
	Mode      string        `yaml:"mode" default:"kubernetes" choices:"kubernetes,host" doc:"kubernetes: a Deployment and Service through the API server reached from this host; host: a systemd unit on this host"`
	Name      string        `yaml:"name" default:"model-server" doc:"name of the Deployment, Service and ConfigMap, or of the systemd unit"`
	Model     string        `yaml:"model" doc:"model architecture JSON on the controller (weights beside it, or named by its weights field); empty serves the built-in seed model, Linear(10, 1)"`
	Device    string        `yaml:"device" default:"auto" choices:"auto,cpu,cuda" doc:"the server's --device: auto takes the GPU when NVML and CUDA work, else the CPU"`
	Port      int           `yaml:"port" default:"8000" doc:"port the server listens on (container port, Service port, or host port)"`
	ExtraArgs []string      `yaml:"extra_args" doc:"more gpuctl serve flags, e.g. [--precision=tf32, --max-batch=512]"`
	Binary    string        `yaml:"binary" doc:"gpuctl binary on the controller to ship (default: the running gpuctl); must be linux and the node's architecture. A binary named gpuctl-serve* is run without the serve subcommand"`
	Verify    bool          `yaml:"verify" default:"true" doc:"after a change, wait for readiness and send one prediction through the host's connection"`
	Timeout   time.Duration `yaml:"timeout" doc:"how long the rollout or start may take (default 5m)"`

	// Kubernetes mode.
	Kubeconfig          string            `yaml:"kubeconfig" doc:"kubeconfig path on the host; default: the host variable kubeconfig, else /etc/kubernetes/admin.conf"`
	Namespace           string            `yaml:"namespace" default:"default" doc:"namespace of the objects (it must exist)"`
	Replicas            int               `yaml:"replicas" default:"1" doc:"pods of the Deployment"`
	GPUs                int               `yaml:"gpus" default:"1" doc:"nvidia.com/gpu limit per pod; 0 sets none (CPU path)"`
	NodeSelector        map[string]string `yaml:"node_selector" doc:"default {gpu: \"true\"} as in the seed; {} for none"`
	Tolerations         []map[string]any  `yaml:"tolerations" doc:"default the seed's gpu-only=true:NoSchedule toleration; [] for none"`
	Image               string            `yaml:"image" doc:"image in a registry the nodes can pull (built from runtime/Dockerfile); empty: gpuctl builds an image from binary and model and imports it"`
	ImagePullPolicy     string            `yaml:"image_pull_policy" default:"IfNotPresent" choices:"IfNotPresent,Always,Never" doc:"the container's imagePullPolicy"`
	Command             []string          `yaml:"command" doc:"container command for a registry image whose entrypoint is not gpuctl serve"`
	BaseImage           string            `yaml:"base_image" doc:"image archive on the controller (docker save or OCI tarball, e.g. a CUDA runtime image) to build on; empty: an empty base (static binary, CPU path or CUDA libraries from the NVIDIA runtime)"`
	ImageRepository     string            `yaml:"image_repository" default:"gpuctl.local/model-server" doc:"repository of the built image; its tag is a hash of the image's content"`
	ImportImage         bool              `yaml:"import_image" default:"true" doc:"import the built image into this host's containerd (the host is a node); false on a control plane that runs no GPU pods"`
	Deploy              bool              `yaml:"deploy" default:"true" doc:"apply the objects; false only imports the built image (for worker nodes)"`
	ContainerdNamespace string            `yaml:"containerd_namespace" default:"k8s.io" doc:"containerd namespace the image is imported into"`
	Snapshotter         string            `yaml:"snapshotter" doc:"snapshotter for the import (see image_import)"`
	CacheDir            string            `yaml:"cache_dir" doc:"where built image archives are kept on the controller (default: the user cache dir's gpuctl/images)"`
	ModelFrom           string            `yaml:"model_from" choices:"image,configmap,host_path" doc:"how model files reach the pod: baked into the built image (default when gpuctl builds it), a ConfigMap (default with image; under 1 MiB), or a hostPath directory uploaded to this host"`
	ServiceType         string            `yaml:"service_type" default:"ClusterIP" choices:"ClusterIP,NodePort" doc:"type of the Service"`
	NodePort            int               `yaml:"node_port" doc:"with NodePort, the port (30000-32767); empty lets the cluster choose"`
	CPURequest          string            `yaml:"cpu_request" default:"250m" doc:"the container's CPU request; \"\" sets none"`
	MemoryRequest       string            `yaml:"memory_request" default:"256Mi" doc:"the container's memory request; \"\" sets none"`
	MemoryLimit         string            `yaml:"memory_limit" default:"8Gi" doc:"the container's memory limit (the CUDA context and batches need headroom over the request); \"\" sets none"`
	DrainDelay          time.Duration     `yaml:"drain_delay" default:"5s" doc:"the server's --drain-delay: after SIGTERM it keeps serving this long with readiness false, so the Service stops sending before the listener closes; 0 disables"`
	TerminationGrace    time.Duration     `yaml:"termination_grace_period" default:"45s" doc:"the pod's terminationGracePeriodSeconds; must be longer than drain_delay plus the server's --shutdown-timeout (30s unless set in extra_args)"`
	RunAsUser           int64             `yaml:"run_as_user" default:"65532" doc:"pod runAsUser, with runAsNonRoot; 0 keeps the image's user and allows root (e.g. when the NVIDIA runtime's device nodes are not readable by others)"`
	RunAsGroup          int64             `yaml:"run_as_group" default:"65532" doc:"pod runAsGroup with run_as_user; 0 keeps the image's group"`
	ReadOnlyRoot        bool              `yaml:"read_only_root_filesystem" default:"true" doc:"the container's readOnlyRootFilesystem; /tmp is a writable emptyDir and CUDA_CACHE_PATH points into it. false when a runtime hook must write into the container's root (some NVIDIA CDI hook versions update ld.so.cache there)"`
	ScrapeAnnotations   bool              `yaml:"scrape_annotations" default:"true" doc:"add prometheus.io/scrape, port and path (/metrics) annotations to the pods"`

	// Host mode.
	Address    string `yaml:"address" default:"0.0.0.0" doc:"host mode: address to listen on"`
	BinaryPath string `yaml:"binary_path" default:"/usr/local/bin/gpuctl-serve" doc:"host mode: where the binary is installed"`
	ModelDir   string `yaml:"model_dir" doc:"host mode and model_from host_path: directory for the model files (default /var/lib/gpuctl/models/NAME)"`

	message string
}

var nameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// Provision fills the defaults that depend on other arguments (the model
// directory on the name, the model source on the image) or that a YAML
// default cannot express (the seed's placement), so Validate only
// validates. Host mode keeps model_from empty: Validate refuses it there.
func (m *ModelServer) Provision() {
	if m.Timeout == 0 {
		m.Timeout = 5 * time.Minute
	}
	if m.ModelDir == "" {
		m.ModelDir = "/var/lib/gpuctl/models/" + m.Name
	}
	if m.Mode == "host" {
		return
	}
	if m.ModelFrom == "" {
		m.ModelFrom = "image"
		if m.Image != "" {
			m.ModelFrom = "configmap"
		}
	}
	if m.NodeSelector == nil {
		m.NodeSelector = map[string]string{"gpu": "true"}
	}
	if m.Tolerations == nil {
		m.Tolerations = []map[string]any{{"key": "gpu-only", "operator": "Equal", "value": "true", "effect": "NoSchedule"}}
	}
}

func (m *ModelServer) Validate() error {
	if len(m.Name) > 52 || !nameRE.MatchString(m.Name) {
		return fmt.Errorf("name %q: use lower case letters, digits and -, at most 52 characters (a DNS label with room for pod suffixes)", m.Name)
	}
	if m.Port < 1 || m.Port > 65535 {
		return fmt.Errorf("port %d is not a TCP port", m.Port)
	}
	for _, a := range m.ExtraArgs {
		if !strings.HasPrefix(a, "-") {
			return fmt.Errorf("extra_args: %q is not a flag (write --flag=value)", a)
		}
		for _, own := range []string{"--addr", "--model", "--device", "--drain-delay"} {
			if a == own || strings.HasPrefix(a, own+"=") {
				return fmt.Errorf("extra_args: %s is set by the module (use the port, address, model, device or drain_delay arguments)", own)
			}
		}
	}
	if !path.IsAbs(m.ModelDir) {
		return fmt.Errorf("model_dir %q must be absolute", m.ModelDir)
	}
	if m.Mode == "host" {
		return m.validateHost()
	}
	return m.validateKube()
}

func (m *ModelServer) validateHost() error {
	for arg, set := range map[string]bool{"image": m.Image != "", "base_image": m.BaseImage != "", "command": len(m.Command) > 0, "model_from": m.ModelFrom != "", "node_port": m.NodePort != 0} {
		if set {
			return fmt.Errorf("%s applies to mode: kubernetes only", arg)
		}
	}
	if !path.IsAbs(m.BinaryPath) || strings.ContainsAny(m.BinaryPath, " \t\n'\"\\%$") {
		return fmt.Errorf("binary_path %q must be an absolute path without spaces or quotes", m.BinaryPath)
	}
	if strings.ContainsAny(m.Address, " \t\n/") || m.Address == "" {
		return fmt.Errorf("address %q is not an IP address or host name", m.Address)
	}
	return nil
}

func (m *ModelServer) validateKube() error {
	if m.Replicas < 0 || m.GPUs < 0 {
		return errors.New("replicas and gpus must not be negative")
	}
	if !nameRE.MatchString(m.Namespace) {
		return fmt.Errorf("namespace %q is not a namespace name", m.Namespace)
	}
	if m.Image != "" {
		if _, err := image.NormalizeRef(m.Image); err != nil {
			return fmt.Errorf("image: %w", err)
		}
		if m.BaseImage != "" {
			return errors.New("base_image is for the image gpuctl builds; it does not apply with image")
		}
		if m.ModelFrom == "image" {
			return errors.New("model_from: image needs the image gpuctl builds (leave image empty), or use configmap or host_path")
		}
	} else if len(m.Command) > 0 {
		return errors.New("command is for a registry image; the image gpuctl builds runs gpuctl serve")
	}
	if !m.Deploy && (m.Image != "" || !m.ImportImage) {
		return errors.New("deploy: false only makes sense to import the image gpuctl builds (import_image: true, no image)")
	}
	if m.ServiceType != "NodePort" && m.NodePort != 0 {
		return errors.New("node_port needs service_type: NodePort")
	}
	if m.NodePort != 0 && (m.NodePort < 30000 || m.NodePort > 32767) {
		return fmt.Errorf("node_port %d is outside 30000-32767", m.NodePort)
	}
	for i, t := range m.Tolerations {
		for k := range t {
			switch k {
			case "key", "operator", "value", "effect", "tolerationSeconds":
			default:
				return fmt.Errorf("tolerations[%d]: unknown field %q (key, operator, value, effect, tolerationSeconds)", i, k)
			}
		}
	}
	if err := m.validatePod(); err != nil {
		return err
	}
	if err := validNamespace(m.ContainerdNamespace); err != nil {
		return err
	}
	_, err := image.NormalizeRef(m.ImageRepository + ":x")
	if err != nil {
		return fmt.Errorf("image_repository: %w", err)
	}
	return nil
}

func (m *ModelServer) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	if m.Mode == "host" {
		return m.checkHost(ctx, h)
	}
	return m.checkKube(ctx, h)
}

func (m *ModelServer) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	if m.Mode == "host" {
		return m.applyHost(ctx, h, d)
	}
	return m.applyKube(ctx, h, d)
}

// Message reports the prediction that proved the server works.
func (m *ModelServer) Message() string { return m.message }

// binaryPath is the gpuctl to ship: the argument, or the running one.
func (m *ModelServer) binaryPath(h modules.Host) (string, error) {
	if m.Binary != "" {
		p := m.Binary
		if !filepath.IsAbs(p) {
			if dir, ok := h.Vars()["playbook_dir"].(string); ok && dir != "" {
				p = filepath.Join(dir, p)
			}
		}
		return p, nil
	}
	p, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find the running gpuctl binary: %w (set binary)", err)
	}
	return filepath.EvalSymlinks(p)
}

// serveArgs is the subcommand before the flags: gpuctl needs "serve", the
// standalone gpuctl-serve binary does not.
func serveArgs(binary string) []string {
	if strings.HasPrefix(filepath.Base(binary), "gpuctl-serve") {
		return nil
	}
	return []string{"serve"}
}

// flags are the server's command-line flags.
func (m *ModelServer) flags(addr, modelPath string) []string {
	out := []string{"--addr=" + addr, "--device=" + m.Device}
	if modelPath != "" {
		out = append(out, "--model="+modelPath)
	}
	return append(out, m.ExtraArgs...)
}

// hostArch is the host's architecture in Go's spelling.
func hostArch(ctx context.Context, h modules.Host) (string, error) {
	if a := h.Facts().String("architecture"); a != "" {
		return goArch(a), nil
	}
	out, err := conn.Output(ctx, h.Conn(), "uname -m")
	if err != nil {
		return "", fmt.Errorf("host %s: uname -m: %w", h.Name(), err)
	}
	return goArch(out), nil
}

func goArch(uname string) string {
	switch strings.TrimSpace(uname) {
	case "x86_64", "amd64":
		return "amd64"
	case "aarch64", "arm64":
		return "arm64"
	case "ppc64le":
		return "ppc64le"
	case "s390x":
		return "s390x"
	}
	return strings.TrimSpace(uname)
}

var (
	_ modules.Module      = (*ModelServer)(nil)
	_ modules.Messager    = (*ModelServer)(nil)
	_ modules.Provisioner = (*ModelServer)(nil)
)

// validatePod checks the pod's resources, shutdown timing and user.
func (m *ModelServer) validatePod() error {
	quantities := map[string]resource.Quantity{}
	for _, q := range []struct{ arg, v string }{{"cpu_request", m.CPURequest}, {"memory_request", m.MemoryRequest}, {"memory_limit", m.MemoryLimit}} {
		if q.v == "" {
			continue
		}
		v, err := resource.ParseQuantity(q.v)
		if err != nil {
			return fmt.Errorf("%s %q: %w", q.arg, q.v, err)
		}
		if v.Sign() <= 0 {
			return fmt.Errorf("%s %q must be positive (\"\" sets none)", q.arg, q.v)
		}
		quantities[q.arg] = v
	}
	req, hasReq := quantities["memory_request"]
	lim, hasLim := quantities["memory_limit"]
	if hasReq && hasLim && req.Cmp(lim) > 0 {
		return fmt.Errorf("memory_request %s is more than memory_limit %s", m.MemoryRequest, m.MemoryLimit)
	}
	if m.DrainDelay < 0 {
		return fmt.Errorf("drain_delay %s is negative", m.DrainDelay)
	}
	if m.TerminationGrace%time.Second != 0 || m.TerminationGrace <= 0 {
		return fmt.Errorf("termination_grace_period %s: want whole seconds, at least 1s", m.TerminationGrace)
	}
	shutdown, err := m.shutdownTimeout()
	if err != nil {
		return err
	}
	if need := m.DrainDelay + shutdown; m.TerminationGrace <= need {
		return fmt.Errorf("termination_grace_period %s must be longer than drain_delay %s plus the server's shutdown timeout %s, or SIGKILL cuts a drain short", m.TerminationGrace, m.DrainDelay, shutdown)
	}
	if m.RunAsUser < 0 || m.RunAsGroup < 0 {
		return errors.New("run_as_user and run_as_group must not be negative")
	}
	return nil
}

// shutdownTimeout is the server's --shutdown-timeout from extra_args, or
// its default.
func (m *ModelServer) shutdownTimeout() (time.Duration, error) {
	const flag = "--shutdown-timeout="
	d := 30 * time.Second // gpuctl serve's default
	for _, a := range m.ExtraArgs {
		if v, ok := strings.CutPrefix(a, flag); ok {
			var err error
			if d, err = time.ParseDuration(v); err != nil {
				return 0, fmt.Errorf("extra_args: %s%s: %w", flag, v, err)
			}
		}
	}
	return d, nil
}
