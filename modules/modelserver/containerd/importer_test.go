package containerd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/modelserver/image"
	"github.com/gpuctl/gpuctl/modules/moduletest"
	"github.com/gpuctl/gpuctl/plan"
)

// fakeCtr answers the two commands the Importer's check runs, from an
// image list and a content store.
type fakeCtr struct {
	images  map[string]hostImage
	content map[string]string
	noCtr   bool
}

func (f *fakeCtr) Run(ctx context.Context, cmd string, opts ...conn.ExecOption) (conn.Result, error) {
	switch {
	case strings.Contains(cmd, "images ls"):
		if f.noCtr {
			return conn.Result{ExitCode: 127}, nil
		}
		var b strings.Builder
		b.WriteString("REF TYPE DIGEST SIZE PLATFORMS LABELS\n")
		for _, i := range f.images {
			fmt.Fprintf(&b, "%s %s %s 1.2 KiB linux/amd64 -\n", i.Ref, i.MediaType, i.Digest)
		}
		return conn.Result{Stdout: b.String()}, nil
	case strings.Contains(cmd, "content get"):
		var b strings.Builder
		for _, l := range strings.Split(cmd, "\n") {
			if !strings.Contains(l, "@@BLOB") {
				continue
			}
			d := strings.Fields(strings.SplitN(l, "@@BLOB ", 2)[1])[0]
			d = strings.TrimSuffix(d, `\n';`)
			fmt.Fprintf(&b, "\n@@BLOB %s\n", d)
			if c, ok := f.content[d]; ok {
				b.WriteString(c)
			} else {
				b.WriteString("\n@@MISSING\n")
			}
		}
		return conn.Result{Stdout: b.String()}, nil
	}
	return conn.Result{}, fmt.Errorf("unexpected command %q", cmd)
}

func (f *fakeCtr) ReadFile(context.Context, string) ([]byte, error) { return nil, fs.ErrNotExist }
func (f *fakeCtr) Stat(context.Context, string) (conn.FileInfo, error) {
	return conn.FileInfo{}, fs.ErrNotExist
}
func (f *fakeCtr) WriteFile(context.Context, string, []byte, conn.FileAttrs) error {
	return errors.New("read-only fake")
}
func (f *fakeCtr) Dial(context.Context, string, string) (net.Conn, error) {
	return nil, errors.New("no network")
}
func (f *fakeCtr) Close() error { return nil }

func digest(c byte) string { return "sha256:" + strings.Repeat(string(c), 64) }

func manifestJSON(config string) string {
	b, _ := json.Marshal(map[string]any{"config": map[string]any{"digest": config}, "layers": []any{}})
	return string(b)
}

// TestImportPlan covers the comparison rules without a host: docker
// archives by image ID through containerd's manifests (also behind an
// index), OCI archives by target digest, and every name of an image.
func TestImportPlan(t *testing.T) {
	docker := Source{Info: image.ArchiveInfo{Path: "/a/pause.tar", Size: 4096, Images: []image.ArchiveImage{{Refs: []string{"registry.k8s.io/pause:3.10.1", "docker.io/library/pause:x"}, Config: digest('c')}}}}
	oci := Source{Info: image.ArchiveInfo{Path: "/a/etcd.tar", Size: 8192, Images: []image.ArchiveImage{{Refs: []string{"registry.k8s.io/etcd:3.6.5-0"}, Target: digest('e')}}}}
	im := Importer{Namespace: "k8s.io", RemoteDir: "/var/lib/gpuctl/images"}
	run := func(f *fakeCtr, check bool) (plan.Diff, *State) {
		t.Helper()
		d, st, err := im.Plan(context.Background(), moduletest.On(f), []Source{docker, oci})
		if ny := (*modules.NotYetError)(nil); check && errors.As(err, &ny) {
			return plan.Diff{Unknown: ny.Reason}, nil // what the engine reports under --check
		}
		if err != nil {
			t.Fatal(err)
		}
		return d, st
	}

	// Nothing there: both archives, all names.
	d, st := run(&fakeCtr{images: map[string]hostImage{}}, false)
	if len(st.pending) != 2 || len(d.Changes) != 5 {
		t.Fatalf("empty store:\n%s", moduletest.Describe(d))
	}

	// Everything there (pause's manifest behind an index).
	full := &fakeCtr{
		images: map[string]hostImage{
			"registry.k8s.io/pause:3.10.1": {Ref: "registry.k8s.io/pause:3.10.1", MediaType: "application/vnd.oci.image.index.v1+json", Digest: digest('i')},
			"docker.io/library/pause:x":    {Ref: "docker.io/library/pause:x", MediaType: "application/vnd.docker.distribution.manifest.v2+json", Digest: digest('m')},
			"registry.k8s.io/etcd:3.6.5-0": {Ref: "registry.k8s.io/etcd:3.6.5-0", MediaType: "application/vnd.oci.image.manifest.v1+json", Digest: digest('e')},
		},
		content: map[string]string{
			digest('i'): `{"manifests":[{"digest":"` + digest('m') + `"}]}`,
			digest('m'): manifestJSON(digest('c')),
		},
	}
	d, st = run(full, false)
	if !d.Empty() || len(st.pending) != 0 {
		t.Fatalf("full store:\n%s", moduletest.Describe(d))
	}

	// One name of pause points elsewhere; etcd's tag moved.
	full.images["docker.io/library/pause:x"] = hostImage{Ref: "docker.io/library/pause:x", MediaType: "x", Digest: digest('n')}
	full.content[digest('n')] = manifestJSON(digest('o'))
	full.images["registry.k8s.io/etcd:3.6.5-0"] = hostImage{Ref: "registry.k8s.io/etcd:3.6.5-0", Digest: digest('f')}
	d, st = run(full, false)
	if len(st.pending) != 2 || !moduletest.HasChange(d, "image:docker.io/library/pause:x", "id") || moduletest.HasChange(d, "image:registry.k8s.io/pause:3.10.1", "") ||
		!moduletest.HasChange(d, "image:registry.k8s.io/etcd:3.6.5-0", "id") || !moduletest.HasChange(d, "upload:/var/lib/gpuctl/images/pause.tar", "") {
		t.Fatalf("partial store:\n%s", moduletest.Describe(d))
	}

	// No containerd: known after apply in check mode, an error otherwise.
	d, _ = run(&fakeCtr{noCtr: true}, true)
	if !strings.Contains(d.Unknown, "known after apply") {
		t.Fatalf("no ctr, check mode: %+v", d)
	}
	if _, _, err := im.Plan(context.Background(), moduletest.On(&fakeCtr{noCtr: true}), []Source{docker}); !errors.Is(err, ErrNoContainerd) {
		t.Fatalf("no ctr: %v", err)
	}
}

func TestImportScript(t *testing.T) {
	s := importScript([]string{"ctr", "-n", "k8s.io", "images", "import"}, "/var/lib/gpuctl/images/a b.tar")
	for _, want := range []string{"1f8b", "gzip -dc '/var/lib/gpuctl/images/a b.tar'", "exec ctr -n k8s.io images import '/var/lib/gpuctl/images/a b.tar'"} {
		if !strings.Contains(s, want) {
			t.Errorf("script lacks %q:\n%s", want, s)
		}
	}
}
