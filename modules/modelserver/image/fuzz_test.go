package image

import (
	"errors"
	"testing"
)

// memArchive is an archive's members in memory.
type memArchive map[string][]byte

func (m memArchive) Read(name string) ([]byte, error) {
	if b, ok := m[name]; ok {
		return b, nil
	}
	return nil, ErrNoMember
}

func FuzzNormalizeRef(f *testing.F) {
	for _, s := range []string{"busybox", "registry.k8s.io/pause:3.10.1", "localhost:5000/a/b:c", "a@sha256:" + string(make([]byte, 64)), "x:", ":", "/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := NormalizeRef(s)
		if err != nil {
			return
		}
		// A normalised name is a fixed point.
		again, err := NormalizeRef(out)
		if err != nil || again != out {
			t.Fatalf("NormalizeRef(%q) = %q, then %q, %v", s, out, again, err)
		}
	})
}

func FuzzInspectArchive(f *testing.F) {
	f.Add([]byte(`{"manifests":[{"digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","annotations":{"io.containerd.image.name":"a.io/b:c"}}]}`), []byte(`[{"Config":"sha256:00","RepoTags":["a:b"]}]`))
	f.Add([]byte(`{"manifests":[]}`), []byte(`[]`))
	f.Add([]byte(`null`), []byte(`[{"Config":"blobs/sha256/x","RepoTags":null}]`))
	f.Fuzz(func(t *testing.T, index, manifest []byte) {
		src := memArchive{"index.json": index, "manifest.json": manifest}
		format, imgs, err := InspectArchive(src, "fuzz")
		if err != nil {
			if errors.Is(err, ErrNoMember) {
				return
			}
			return
		}
		if format != "oci" && format != "docker" {
			t.Fatalf("format %q", format)
		}
		for _, img := range imgs {
			if len(img.Refs) == 0 || img.ID() == "" {
				t.Fatalf("image without name or id: %+v", img)
			}
		}
	})
}
