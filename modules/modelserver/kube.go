package modelserver

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/gpuctl/gpuctl/kubeclient"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/modelserver/containerd"
	"github.com/gpuctl/gpuctl/modules/modelserver/image"
	"github.com/gpuctl/gpuctl/modules/modelserver/manifest"
	"github.com/gpuctl/gpuctl/plan"
)

// kubeState carries a Kubernetes-mode plan from Check to Apply.
type kubeState struct {
	model   *loadedModel
	image   string
	built   *image.Built
	imports *containerd.State
	files   *fileSync // host_path model files
	client  *kubeclient.Client
	planned []kubeclient.Planned
}

func (m *ModelServer) checkKube(ctx context.Context, h modules.Host) (plan.Diff, error) {
	var d plan.Diff
	lm, err := loadModel(m.Model)
	if err != nil {
		return d, err
	}
	st := &kubeState{model: lm, image: m.Image}
	if m.Image == "" {
		if err := m.planImage(ctx, h, st, &d); err != nil {
			return d, err
		}
	}
	if m.ModelFrom == "host_path" && !lm.Builtin {
		fs, err := planFiles(ctx, h, m.ModelDir, lm.Files)
		if err != nil {
			return d, err
		}
		d.Merge(fs.diff)
		st.files = fs
		d.Note(fmt.Sprintf("model files go to %s on host %s; other nodes that may run the pods need them too", m.ModelDir, h.Name()))
	}
	if !m.Deploy {
		d.State = st
		return d, nil
	}
	objs, err := m.objects(st.image, lm)
	if err != nil {
		return d, err
	}
	c, err := m.client(ctx, h)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return d, modules.NotYet("known after apply: %w", err)
		}
		return d, err
	}
	od, planned, err := c.Plan(ctx, objs, kubeclient.PlanOptions{Namespace: m.Namespace})
	if err != nil {
		return d, err
	}
	d.Merge(od)
	st.client, st.planned = c, planned
	d.State = st
	return d, nil
}

// planImage builds the image in memory (for its tag) and plans its import.
func (m *ModelServer) planImage(ctx context.Context, h modules.Host, st *kubeState, d *plan.Diff) error {
	bin, err := m.binaryPath(h)
	if err != nil {
		return err
	}
	bi, err := image.InspectBinary(bin)
	if err != nil {
		return fmt.Errorf("binary: %w", err)
	}
	arch, err := hostArch(ctx, h)
	if err != nil {
		return err
	}
	if err := image.CheckBinary(bin, bi, arch); err != nil {
		return err
	}
	spec := image.Spec{Binary: bin, ServeArgs: serveArgs(bin), BaseArchive: m.BaseImage, Repo: m.ImageRepository, Arch: arch, Port: m.Port}
	if !bi.Static {
		spec.Interp = bi.Interp
	}
	if m.ModelFrom == "image" {
		spec.Model = st.model.Files
	}
	built, err := image.Build(spec)
	if err != nil {
		return err
	}
	st.built, st.image = built, built.Ref
	if !m.ImportImage {
		d.Note(fmt.Sprintf("image %s is not imported on this host (import_image: false): import it on the nodes with model_server deploy: false", built.Ref))
		return nil
	}
	cache, err := m.cachePath(built)
	if err != nil {
		return err
	}
	src := containerd.Source{
		Info: image.ArchiveInfo{Path: cache, Format: "docker", Images: []image.ArchiveImage{{Refs: []string{built.Ref}, Config: built.Config}}},
		Data: func(context.Context) ([]byte, error) {
			if err := built.WriteArchive(cache); err != nil {
				return nil, err
			}
			return os.ReadFile(cache)
		},
	}
	if fi, err := os.Stat(bin); err == nil {
		src.Info.Size = fi.Size()
	}
	im := containerd.Importer{Namespace: m.ContainerdNamespace, RemoteDir: "/var/lib/gpuctl/images", Snapshotter: m.Snapshotter}
	id, ist, err := im.Plan(ctx, h, []containerd.Source{src})
	if errors.Is(err, containerd.ErrNoContainerd) {
		return fmt.Errorf("%w: the built image is imported into this host's containerd; set import_image: false when this host runs no pods, and import it on the nodes with deploy: false", err)
	}
	if err != nil {
		return err
	}
	d.Merge(id)
	st.imports = ist
	return nil
}

func (m *ModelServer) cachePath(b *image.Built) (string, error) {
	dir := m.CacheDir
	if dir == "" {
		uc, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("no cache directory for built images (set cache_dir): %w", err)
		}
		dir = filepath.Join(uc, "gpuctl", "images")
	}
	tag := b.Ref[strings.LastIndex(b.Ref, ":")+1:]
	return filepath.Join(dir, "model-server-"+tag+".tar"), nil
}

func (m *ModelServer) client(ctx context.Context, h modules.Host) (*kubeclient.Client, error) {
	p := m.Kubeconfig
	if p == "" {
		if v, ok := h.Vars()["kubeconfig"].(string); ok && v != "" {
			p = v
		}
	}
	if p == "" {
		p = kubeclient.DefaultKubeconfig
	}
	return kubeclient.Connect(ctx, h.Conn(), h.Name(), p)
}

// Reads lets check mode show "known after apply" when an earlier task
// creates the kubeconfig.
func (m *ModelServer) Reads() []string {
	if m.Mode != "kubernetes" || !m.Deploy {
		return nil
	}
	if m.Kubeconfig != "" {
		return []string{m.Kubeconfig}
	}
	return []string{kubeclient.DefaultKubeconfig}
}

func (m *ModelServer) applyKube(ctx context.Context, h modules.Host, d plan.Diff) error {
	st, err := modules.StateOf[*kubeState](h, "model_server", d)
	if err != nil {
		return err
	}
	if st.imports != nil {
		im := containerd.Importer{Namespace: m.ContainerdNamespace, RemoteDir: "/var/lib/gpuctl/images", Snapshotter: m.Snapshotter}
		if err := im.Execute(ctx, h, st.imports); err != nil {
			return err
		}
	}
	if st.files != nil {
		if err := st.files.apply(ctx, h); err != nil {
			return err
		}
	}
	if !m.Deploy {
		m.message = "image " + st.image + " imported"
		return nil
	}
	c := st.client
	if err := c.Execute(ctx, st.planned, m.Namespace); err != nil {
		return err
	}
	if !m.Verify {
		return nil
	}
	o := kubeclient.WaitOptions{Timeout: m.Timeout, Log: h.Log(), Explain: func(ctx context.Context) string { return m.explainPods(ctx, c) }}
	if err := c.WaitDeployment(ctx, m.Namespace, m.Name, o); err != nil {
		return fmt.Errorf("host %s: %w", h.Name(), err)
	}
	return m.verifyKube(ctx, h, c, st.model)
}

// verifyKube sends one prediction to a ready pod, dialled from the host.
func (m *ModelServer) verifyKube(ctx context.Context, h modules.Host, c *kubeclient.Client, lm *loadedModel) error {
	pods, err := c.Kube.CoreV1().Pods(m.Namespace).List(ctx, metav1.ListOptions{LabelSelector: m.selector()})
	if err != nil {
		return c.Wrap("list pods of", "deployment/"+m.Namespace+"/"+m.Name, err)
	}
	var pod *corev1.Pod
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.DeletionTimestamp == nil && kubeclient.PodReady(p) && p.Status.PodIP != "" {
			pod = p
			break
		}
	}
	if pod == nil {
		return fmt.Errorf("deployment/%s/%s is rolled out but no ready pod has an IP\n%s", m.Namespace, m.Name, m.explainPods(ctx, c))
	}
	if reason := simulatedNode(ctx, c, pod.Spec.NodeName); reason != "" {
		m.message = fmt.Sprintf("rolled out; prediction skipped: pod %s runs on node %s, %s", pod.Name, pod.Spec.NodeName, reason)
		h.Log().Info("prediction skipped", "pod", pod.Name, "node", pod.Spec.NodeName, "reason", reason)
		return nil
	}
	addr := fmt.Sprintf("%s:%d", pod.Status.PodIP, m.Port)
	res, err := predict(ctx, h.Conn(), addr, lm.In, lm.Out)
	if err != nil {
		return fmt.Errorf("host %s: prediction from pod %s/%s at %s: %w\n%s", h.Name(), m.Namespace, pod.Name, addr, err, m.explainPod(ctx, c, pod.Name))
	}
	m.message = fmt.Sprintf("pod %s on %s answered %s", pod.Name, pod.Spec.NodeName, res)
	return nil
}

func (m *ModelServer) selector() string {
	return labels.Set(manifest.SelectorLabels(m.Name)).AsSelector().String()
}

// simulatedNode says why a node cannot run containers (kwok plays its
// kubelet), or "".
func simulatedNode(ctx context.Context, c *kubeclient.Client, name string) string {
	n, err := c.Kube.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return ""
	}
	if _, ok := n.Annotations["kwok.x-k8s.io/node"]; ok || n.Labels["type"] == "kwok" {
		return "which kwok simulates (no container runs, so nothing can answer HTTP)"
	}
	return ""
}

// explainPods describes the server's pods that are not ready, with their
// events and last log lines.
func (m *ModelServer) explainPods(ctx context.Context, c *kubeclient.Client) string {
	pods, err := c.Kube.CoreV1().Pods(m.Namespace).List(ctx, metav1.ListOptions{LabelSelector: m.selector()})
	if err != nil {
		return "  pods: " + err.Error()
	}
	if len(pods.Items) == 0 {
		return "  no pods: " + c.ExplainPod(ctx, m.Namespace, m.Name)
	}
	var b strings.Builder
	for _, p := range pods.Items {
		if kubeclient.PodReady(&p) {
			continue
		}
		b.WriteString(m.explainPod(ctx, c, p.Name) + "\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

func (m *ModelServer) explainPod(ctx context.Context, c *kubeclient.Client, name string) string {
	s := c.ExplainPod(ctx, m.Namespace, name)
	tail := int64(30)
	logs, err := c.Kube.CoreV1().Pods(m.Namespace).GetLogs(name, &corev1.PodLogOptions{Container: manifest.ContainerName, TailLines: &tail}).DoRaw(ctx)
	if err == nil && len(logs) > 0 {
		s += "\n    logs (last 30 lines):\n      " + strings.ReplaceAll(strings.TrimRight(string(logs), "\n"), "\n", "\n      ")
	}
	return s
}
