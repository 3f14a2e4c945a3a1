package modelserver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/modelserver/containerd"
	"github.com/gpuctl/gpuctl/modules/modelserver/image"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:    "image_import",
		Summary: "Import OCI or docker image archives into containerd (air-gapped nodes), uploading only what is missing",
		CheckMode: "Reads each archive's index (manifest.json or index.json) on the controller and containerd's image list " +
			"on the host, and lists the images that would be imported (new names, or names pointing at other content) " +
			"and the archives that would be uploaded. Changes nothing.",
		Example: `- name: Kubernetes images for an air-gapped node
  image_import:
    archives: [images/]          # every *.tar, *.tar.gz, *.tgz in it
    namespace: k8s.io`,
		New: func() modules.Module { return &ImageImport{} },
	})
}

// ImageImport imports image archives into containerd, idempotently: an
// archive is uploaded and imported only when one of its images is not in
// containerd under the same name and content.
type ImageImport struct {
	Archives     []string `yaml:"archives" required:"true" doc:"image archives (docker save or OCI layout tarballs, optionally gzip-compressed): files, directories (their *.tar, *.tar.gz, *.tgz) or globs, on the controller (relative to the playbook) or, with remote_src, on the host"`
	RemoteSrc    bool     `yaml:"remote_src" doc:"the archives are already on the host: import them in place, upload nothing"`
	Namespace    string   `yaml:"namespace" default:"k8s.io" doc:"containerd namespace; the kubelet's CRI uses k8s.io"`
	RemoteDir    string   `yaml:"remote_dir" default:"/var/lib/gpuctl/images" doc:"where uploaded archives are put on the host"`
	Snapshotter  string   `yaml:"snapshotter" doc:"snapshotter to unpack with (ctr --snapshotter); empty uses containerd's default. Set it to the CRI's when they differ"`
	AllPlatforms bool     `yaml:"all_platforms" doc:"import the content of every platform in a multi-platform archive, not only the host's"`
	KeepArchives bool     `yaml:"keep_archives" doc:"leave uploaded archives in remote_dir after import (default: remove them; containerd keeps the content)"`
}

func (m *ImageImport) Validate() error {
	if len(m.Archives) == 0 {
		return errors.New("archives: give at least one archive, directory or glob")
	}
	if err := validNamespace(m.Namespace); err != nil {
		return err
	}
	if !path.IsAbs(m.RemoteDir) {
		return fmt.Errorf("remote_dir %q must be an absolute path", m.RemoteDir)
	}
	for _, a := range m.Archives {
		if a == "" {
			return errors.New("archives: empty path")
		}
		if m.RemoteSrc {
			if !path.IsAbs(a) {
				return fmt.Errorf("archives: %q must be absolute with remote_src", a)
			}
			if strings.ContainsAny(a, " \t\n'\"`$;&|<>\\(){}") {
				return fmt.Errorf("archives: %q: remote paths may hold glob characters but no spaces or shell syntax", a)
			}
		} else if _, err := filepath.Match(a, ""); err != nil {
			return fmt.Errorf("archives: bad glob %q: %w", a, err)
		}
	}
	if strings.ContainsAny(m.Snapshotter, " \t\n/'\"") {
		return fmt.Errorf("snapshotter %q is not a snapshotter name", m.Snapshotter)
	}
	return nil
}

func validNamespace(ns string) error {
	if ns == "" || strings.ContainsAny(ns, " \t\n/'\"$`") {
		return fmt.Errorf("namespace %q is not a containerd namespace", ns)
	}
	return nil
}

func (m *ImageImport) importer() containerd.Importer {
	return containerd.Importer{Namespace: m.Namespace, RemoteDir: m.RemoteDir, Snapshotter: m.Snapshotter, AllPlatforms: m.AllPlatforms, Keep: m.KeepArchives}
}

func (m *ImageImport) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	srcs, err := m.sources(ctx, h)
	if err != nil {
		return plan.Diff{}, err
	}
	d, st, err := m.importer().Plan(ctx, h, srcs)
	if err != nil {
		return d, err
	}
	d.State = st
	return d, nil
}

func (m *ImageImport) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	st, err := modules.StateOf[*containerd.State](h, "image_import", d)
	if err != nil {
		return err
	}
	return m.importer().Execute(ctx, h, st)
}

// sources finds and inspects the archives.
func (m *ImageImport) sources(ctx context.Context, h modules.Host) ([]containerd.Source, error) {
	var out []containerd.Source
	if m.RemoteSrc {
		paths, err := remoteArchives(ctx, h, m.Archives)
		if err != nil {
			return nil, err
		}
		for _, p := range paths {
			format, imgs, err := image.InspectArchive(containerd.NewRemoteArchive(ctx, h.Conn(), p), "host "+h.Name()+": "+p)
			if err != nil {
				return nil, err
			}
			out = append(out, containerd.Source{Info: image.ArchiveInfo{Path: p, Format: format, Images: imgs}, Remote: true})
		}
		return out, nil
	}
	paths, err := localArchives(h, m.Archives)
	if err != nil {
		return nil, err
	}
	for _, p := range paths {
		info, err := image.InspectLocal(p)
		if err != nil {
			return nil, err
		}
		out = append(out, containerd.Source{Info: info})
	}
	return out, nil
}

// archiveExts are the names a directory's archives end with.
var archiveExts = []string{".tar", ".tar.gz", ".tgz"}

func isArchiveName(n string) bool {
	for _, e := range archiveExts {
		if strings.HasSuffix(n, e) {
			return true
		}
	}
	return false
}

// localArchives expands files, directories and globs on the controller.
// Relative paths are taken from the playbook's directory.
func localArchives(h modules.Host, specs []string) ([]string, error) {
	base := ""
	if v, ok := h.Vars()["playbook_dir"].(string); ok {
		base = v
	}
	var out []string
	seen := map[string]bool{}
	add := func(p string) {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, s := range specs {
		p := s
		if !filepath.IsAbs(p) && base != "" {
			p = filepath.Join(base, p)
		}
		matches := []string{p}
		if strings.ContainsAny(s, "*?[") {
			var err error
			if matches, err = filepath.Glob(p); err != nil {
				return nil, fmt.Errorf("archives: %q: %w", s, err)
			}
			if len(matches) == 0 {
				return nil, fmt.Errorf("archives: %q matches no file on the controller", s)
			}
			sort.Strings(matches)
		}
		for _, mp := range matches {
			fi, err := os.Stat(mp)
			if err != nil {
				return nil, fmt.Errorf("archives: %q on the controller: %w", s, err)
			}
			if !fi.IsDir() {
				add(mp)
				continue
			}
			ents, err := os.ReadDir(mp)
			if err != nil {
				return nil, fmt.Errorf("archives: %w", err)
			}
			n := 0
			for _, e := range ents {
				if !e.IsDir() && isArchiveName(e.Name()) {
					add(filepath.Join(mp, e.Name()))
					n++
				}
			}
			if n == 0 {
				return nil, fmt.Errorf("archives: directory %s holds no *.tar, *.tar.gz or *.tgz", mp)
			}
		}
	}
	return out, nil
}

// remoteArchives expands the same forms on the host with its shell.
func remoteArchives(ctx context.Context, h modules.Host, specs []string) ([]string, error) {
	var b strings.Builder
	for _, s := range specs {
		// Unquoted on purpose: the shell expands the glob; Validate allowed
		// no other syntax.
		fmt.Fprintf(&b, "found=; for p in %s; do if [ -d \"$p\" ]; then for f in \"$p\"/*.tar \"$p\"/*.tar.gz \"$p\"/*.tgz; do [ -f \"$f\" ] && echo \"$f\" && found=1; done; elif [ -f \"$p\" ]; then echo \"$p\"; found=1; fi; done; [ -n \"$found\" ] || echo %s >&2\n", s, conn.Quote("no archive at "+s))
	}
	res, err := h.Conn().Run(ctx, b.String())
	if err != nil {
		return nil, fmt.Errorf("host %s: list archives: %w", h.Name(), err)
	}
	if msg := strings.TrimSpace(res.Stderr); msg != "" {
		return nil, fmt.Errorf("host %s: archives: %s", h.Name(), msg)
	}
	var out []string
	seen := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(res.Stdout), "\n") {
		if l != "" && !seen[l] {
			seen[l] = true
			out = append(out, l)
		}
	}
	return out, nil
}

var _ modules.Module = (*ImageImport)(nil)
