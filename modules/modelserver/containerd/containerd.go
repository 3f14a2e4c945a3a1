package containerd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules/modelserver/image"
)

// RemoteArchive reads members of an archive already on the host with GNU
// tar, which detects compression itself.
type RemoteArchive struct {
	ctx  context.Context
	c    conn.Conn
	path string
}

// NewRemoteArchive reads the archive at path on the host c reaches; ctx
// bounds every read (image.FileSource has no context of its own).
func NewRemoteArchive(ctx context.Context, c conn.Conn, path string) RemoteArchive {
	return RemoteArchive{ctx: ctx, c: c, path: path}
}

func (r RemoteArchive) Read(name string) ([]byte, error) {
	cmd := fmt.Sprintf("tar -xOf %s %s 2>/dev/null || tar -xOf %s %s", conn.Quote(r.path), conn.Quote(name), conn.Quote(r.path), conn.Quote("./"+name))
	res, err := r.c.Run(r.ctx, cmd)
	if err != nil {
		return nil, err
	}
	if res.ExitCode != 0 {
		if strings.Contains(res.Stderr, "Not found in archive") {
			return nil, fmt.Errorf("%s: %w", name, image.ErrNoMember)
		}
		return nil, fmt.Errorf("tar %s: %s", r.path, strings.TrimSpace(res.Stderr))
	}
	return []byte(res.Stdout), nil
}

// ErrNoContainerd is a host where ctr is not installed.
var ErrNoContainerd = errors.New("containerd (ctr) is not installed")

// hostImage is an image in containerd's store.
type hostImage struct {
	Ref, MediaType, Digest string
}

// listImages returns containerd's images in namespace ns, by reference.
func listImages(ctx context.Context, c conn.Conn, ns string) (map[string]hostImage, error) {
	res, err := c.Run(ctx, "command -v ctr >/dev/null 2>&1 || exit 127; ctr -n "+conn.Quote(ns)+" images ls")
	if err != nil {
		return nil, err
	}
	switch res.ExitCode {
	case 0:
	case 127:
		return nil, ErrNoContainerd
	default:
		return nil, fmt.Errorf("ctr images ls: %s (is containerd running?)", strings.TrimSpace(res.Stderr+res.Stdout))
	}
	out := map[string]hostImage{}
	for i, l := range strings.Split(res.Stdout, "\n") {
		f := strings.Fields(l)
		if i == 0 || len(f) < 3 {
			continue
		}
		out[f[0]] = hostImage{Ref: f[0], MediaType: f[1], Digest: f[2]}
	}
	return out, nil
}

// blobs reads content blobs from containerd's store, by digest; missing
// blobs are left out.
func blobs(ctx context.Context, c conn.Conn, ns string, digests []string) (map[string][]byte, error) {
	if len(digests) == 0 {
		return nil, nil
	}
	var b strings.Builder
	for _, d := range digests {
		fmt.Fprintf(&b, "printf '\\n@@BLOB %s\\n'; ctr -n %s content get %s 2>/dev/null || printf '\\n@@MISSING\\n'\n", d, conn.Quote(ns), conn.Quote(d))
	}
	res, err := c.Run(ctx, b.String())
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for _, part := range strings.Split(res.Stdout, "\n@@BLOB ")[1:] {
		d, body, _ := strings.Cut(part, "\n")
		if strings.HasSuffix(body, "\n@@MISSING\n") {
			continue
		}
		out[d] = []byte(body)
	}
	return out, nil
}

// configDigests resolves each image's target to the config digests it
// leads to: one for a manifest, one per platform for an index whose
// manifests are in the store. Docker archives are compared by config,
// because containerd writes their manifests itself.
func configDigests(ctx context.Context, c conn.Conn, ns string, imgs []hostImage) (map[string][]string, error) {
	var targets []string
	for _, i := range imgs {
		targets = append(targets, i.Digest)
	}
	first, err := blobs(ctx, c, ns, targets)
	if err != nil {
		return nil, err
	}
	children := map[string][]string{}
	var second []string
	for d, b := range first {
		var doc struct {
			Config    struct{ Digest string }   `json:"config"`
			Manifests []struct{ Digest string } `json:"manifests"`
		}
		if json.Unmarshal(b, &doc) != nil {
			continue
		}
		for _, m := range doc.Manifests {
			children[d] = append(children[d], m.Digest)
			second = append(second, m.Digest)
		}
	}
	more, err := blobs(ctx, c, ns, second)
	if err != nil {
		return nil, err
	}
	cfg := func(b []byte) string {
		var doc struct {
			Config struct{ Digest string } `json:"config"`
		}
		_ = json.Unmarshal(b, &doc)
		return doc.Config.Digest
	}
	out := map[string][]string{}
	for _, i := range imgs {
		if kids, ok := children[i.Digest]; ok {
			for _, k := range kids {
				if b, ok := more[k]; ok && cfg(b) != "" {
					out[i.Ref] = append(out[i.Ref], cfg(b))
				}
			}
			continue
		}
		if b, ok := first[i.Digest]; ok && cfg(b) != "" {
			out[i.Ref] = append(out[i.Ref], cfg(b))
		}
	}
	return out, nil
}
