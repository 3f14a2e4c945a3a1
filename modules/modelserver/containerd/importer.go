package containerd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/internal/fileplan"
	"github.com/gpuctl/gpuctl/modules/modelserver/image"
	"github.com/gpuctl/gpuctl/plan"
)

// Importer puts image archives into containerd's store on one host; it is
// image_import's engine and model_server's path for images gpuctl builds.
type Importer struct {
	Namespace    string
	RemoteDir    string
	Snapshotter  string
	AllPlatforms bool
	Keep         bool
}

// Source is one archive to import.
type Source struct {
	Info   image.ArchiveInfo
	Remote bool // already on the host at Info.Path
	// Data produces the archive's bytes when it has to be uploaded; nil
	// reads Info.Path on the controller.
	Data func(ctx context.Context) ([]byte, error)
}

// pendingImport is an archive Check found something missing from.
type pendingImport struct {
	src   Source
	refs  []string // the references it brings or changes
	dest  string   // path on the host
	bytes int64
}

// State carries the plan from Check to Apply.
type State struct {
	pending []pendingImport
}

// plan compares each archive's images with containerd's store: an image
// counts as present only when every one of its names points at the same
// content (OCI: the same manifest or index digest; docker archives: the
// same image ID, since containerd writes their manifests itself).
func (im Importer) Plan(ctx context.Context, h modules.Host, srcs []Source) (plan.Diff, *State, error) {
	var d plan.Diff
	have, err := listImages(ctx, h.Conn(), im.Namespace)
	if err != nil {
		return d, nil, modules.NotYet("known after apply: host %s: %w", h.Name(), err)
	}
	// Docker archives are compared by image ID, which needs the manifests
	// of the names the host already has.
	var resolve []hostImage
	for _, s := range srcs {
		for _, img := range s.Info.Images {
			if img.Target != "" {
				continue
			}
			for _, r := range img.Refs {
				if hi, ok := have[r]; ok {
					resolve = append(resolve, hi)
				}
			}
		}
	}
	ids, err := configDigests(ctx, h.Conn(), im.Namespace, resolve)
	if err != nil {
		return d, nil, fmt.Errorf("host %s: read image manifests: %w", h.Name(), err)
	}
	st := &State{}
	used := map[string]int{}
	for _, s := range srcs {
		p := pendingImport{src: s, bytes: s.Info.Size}
		for _, img := range s.Info.Images {
			for _, r := range img.Refs {
				hi, ok := have[r]
				res := "image:" + r
				after := fmt.Sprintf("%s from %s", shortID(img.ID()), path.Base(s.Info.Path))
				switch {
				case !ok:
					d.Add(plan.Change{Resource: res, Action: plan.Create, Field: "imported", After: after})
				case img.Target != "" && hi.Digest == img.Target:
					continue
				case img.Target == "" && slices.Contains(ids[r], img.Config):
					continue
				default:
					before := hi.Digest
					if img.Target == "" && len(ids[r]) > 0 {
						before = strings.Join(ids[r], ",")
					}
					d.Add(plan.Change{Resource: res, Action: plan.Update, Field: "id", Before: shortID(before), After: after})
				}
				p.refs = append(p.refs, r)
			}
		}
		if len(p.refs) == 0 {
			continue
		}
		if s.Remote {
			p.dest = s.Info.Path
		} else {
			base := path.Base(filepath.ToSlash(s.Info.Path))
			if n := used[base]; n > 0 {
				base = fmt.Sprintf("%d-%s", n, base)
			}
			used[path.Base(filepath.ToSlash(s.Info.Path))]++
			p.dest = path.Join(im.RemoteDir, base)
			d.Add(plan.Change{Resource: "upload:" + p.dest, Action: plan.Create, Field: "archive", After: fileplan.HumanBytes(p.bytes) + " from " + s.Info.Path})
		}
		st.pending = append(st.pending, p)
	}
	if len(st.pending) > 0 && !im.Keep {
		d.Note("uploaded archives are removed after import (keep_archives: false)")
	}
	return d, st, nil
}

// execute uploads and imports the pending archives. Uploads run one archive
// ahead of imports, so the link and containerd work at the same time.
func (im Importer) Execute(ctx context.Context, h modules.Host, st *State) error {
	if st == nil || len(st.pending) == 0 {
		return nil
	}
	c := h.Conn()
	if needUpload := slices.ContainsFunc(st.pending, func(p pendingImport) bool { return !p.src.Remote }); needUpload {
		if _, err := conn.Output(ctx, c, "mkdir -p -m 0700 "+conn.Quote(im.RemoteDir)); err != nil {
			return fmt.Errorf("host %s: create %s: %w", h.Name(), im.RemoteDir, err)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type uploaded struct {
		p   pendingImport
		err error
	}
	ready := make(chan uploaded, 1)
	go func() {
		defer close(ready)
		for _, p := range st.pending {
			var err error
			if !p.src.Remote {
				err = im.upload(ctx, h, p)
			}
			select {
			case ready <- uploaded{p, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	var errs []error
	for u := range ready {
		if u.err != nil {
			errs = append(errs, u.err)
			break
		}
		if err := im.importOne(ctx, h, u.p); err != nil {
			errs = append(errs, err)
			cancel()
			break
		}
	}
	return errors.Join(errs...)
}

func (im Importer) upload(ctx context.Context, h modules.Host, p pendingImport) error {
	start := time.Now()
	var data []byte
	var err error
	if p.src.Data != nil {
		data, err = p.src.Data(ctx)
	} else {
		data, err = os.ReadFile(p.src.Info.Path)
	}
	if err != nil {
		return fmt.Errorf("read archive %s: %w", p.src.Info.Path, err)
	}
	if err := h.Conn().WriteFile(ctx, p.dest, data, conn.FileAttrs{Mode: 0o600}); err != nil {
		return fmt.Errorf("host %s: upload %s to %s: %w", h.Name(), p.src.Info.Path, p.dest, err)
	}
	el := time.Since(start)
	h.Log().Info("image archive uploaded", "archive", p.src.Info.Path, "dest", p.dest, "bytes", len(data),
		"seconds", el.Seconds(), "MBps", float64(len(data))/1e6/max(el.Seconds(), 1e-6))
	return nil
}

func (im Importer) importOne(ctx context.Context, h modules.Host, p pendingImport) error {
	args := []string{"ctr", "-n", im.Namespace, "images", "import"}
	if im.Snapshotter != "" {
		args = append(args, "--snapshotter", im.Snapshotter)
	}
	if im.AllPlatforms {
		args = append(args, "--all-platforms")
	}
	start := time.Now()
	err := runImport(ctx, h.Conn(), args, p.dest)
	if !p.src.Remote && !im.Keep {
		// A failed import leaves the archive for the next run to replace.
		if err == nil {
			if _, rerr := conn.Output(ctx, h.Conn(), conn.Join("rm", "-f", "--", p.dest)); rerr != nil {
				h.Log().Warn("could not remove imported archive", "path", p.dest, "err", rerr)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("host %s: import %s into containerd namespace %s: %w", h.Name(), p.dest, im.Namespace, err)
	}
	h.Log().Info("image archive imported", "archive", p.dest, "images", strings.Join(p.refs, " "), "seconds", time.Since(start).Seconds())
	return nil
}

// importScript imports path with the ctr command line args. containerd
// 1.6 (Debian 12, Ubuntu 22.04) reads only uncompressed archives, so a
// gzip one is unpacked beside itself first; its exit status is kept.
func importScript(args []string, p string) string {
	tmp := p + ".gpuctl-unpacked"
	return fmt.Sprintf(`if [ "$(head -c2 %[1]s | od -An -tx1 | tr -d ' \n')" = 1f8b ]; then
  gzip -dc %[1]s > %[2]s || { rm -f %[2]s; exit 1; }
  %[3]s %[2]s; rc=$?; rm -f %[2]s; exit $rc
fi
exec %[3]s %[1]s`, conn.Quote(p), conn.Quote(tmp), conn.Join(args...))
}

// runImport runs the import script and words its failure.
func runImport(ctx context.Context, c conn.Conn, args []string, p string) error {
	res, err := c.Run(ctx, importScript(args, p))
	if err != nil {
		return err
	}
	if res.ExitCode == 0 {
		return nil
	}
	msg := strings.TrimSpace(res.Stderr + res.Stdout)
	if strings.Contains(msg, "filtered out") {
		msg += " (no image in the archive is for the host's platform: check the image config's os/architecture, or set all_platforms: true)"
	}
	return fmt.Errorf("%s %s exited %d: %s", strings.Join(args, " "), p, res.ExitCode, msg)
}

// shortID trims a digest for one-line output.
func shortID(d string) string {
	if h, ok := strings.CutPrefix(d, "sha256:"); ok && len(h) > 12 {
		return "sha256:" + h[:12]
	}
	return d
}
