package image

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// loadBase opens a base image archive on the controller: a docker save
// archive, or an OCI layout tarball (a multi-platform index is narrowed to
// linux/arch). Layers are read from the archive when the result is written,
// never held in memory.
func loadBase(p, arch string) (v1.Image, error) {
	la, _, err := OpenLocalArchive(p)
	if err != nil {
		return nil, err
	}
	if len(la.small) > 0 {
		return nil, fmt.Errorf("compressed base archives are not supported; decompress it (gunzip) first")
	}
	if la.Has("index.json") {
		return ociBase(la, arch)
	}
	if !la.Has("manifest.json") {
		return nil, fmt.Errorf("neither index.json nor manifest.json: not an image archive")
	}
	var entries []json.RawMessage
	if b, err := la.Read("manifest.json"); err != nil || json.Unmarshal(b, &entries) != nil || len(entries) != 1 {
		return nil, fmt.Errorf("a base archive must hold exactly one image")
	}
	return tarball.Image(func() (io.ReadCloser, error) { return os.Open(p) }, nil)
}

type ociDesc struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
	Platform  *struct {
		OS           string `json:"os"`
		Architecture string `json:"architecture"`
	} `json:"platform"`
}

// ociBase finds the image for linux/arch in an OCI layout tarball.
func ociBase(la *LocalArchive, arch string) (v1.Image, error) {
	blob := func(d string) ([]byte, error) { return la.Read("blobs/" + strings.Replace(d, ":", "/", 1)) }
	idx, err := la.Read("index.json")
	if err != nil {
		return nil, err
	}
	for depth := 0; depth < 3; depth++ {
		var index struct {
			Manifests []ociDesc `json:"manifests"`
		}
		if err := json.Unmarshal(idx, &index); err != nil {
			return nil, fmt.Errorf("index: %w", err)
		}
		var pick *ociDesc
		for i, m := range index.Manifests {
			if m.Platform != nil && (m.Platform.OS != "linux" || m.Platform.Architecture != arch) {
				continue
			}
			if pick != nil && m.Platform == nil {
				continue
			}
			pick = &index.Manifests[i]
		}
		if pick == nil {
			return nil, fmt.Errorf("%w (linux/%s)", ErrNoImage, arch)
		}
		b, err := blob(pick.Digest)
		if err != nil {
			return nil, fmt.Errorf("manifest %s: %w", pick.Digest, err)
		}
		mt := types.MediaType(pick.MediaType)
		if mt.IsIndex() {
			idx = b
			continue
		}
		return partial.CompressedToImage(&ociImage{la: la, manifest: b, mediaType: mt})
	}
	return nil, fmt.Errorf("index nesting too deep")
}

// ociImage is a CompressedImageCore over an OCI layout inside a tarball.
type ociImage struct {
	la        *LocalArchive
	manifest  []byte
	mediaType types.MediaType
}

func (o *ociImage) MediaType() (types.MediaType, error) { return o.mediaType, nil }
func (o *ociImage) RawManifest() ([]byte, error)        { return o.manifest, nil }

func (o *ociImage) RawConfigFile() ([]byte, error) {
	m, err := v1.ParseManifest(strings.NewReader(string(o.manifest)))
	if err != nil {
		return nil, err
	}
	return o.la.Read("blobs/sha256/" + m.Config.Digest.Hex)
}

func (o *ociImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	m, err := v1.ParseManifest(strings.NewReader(string(o.manifest)))
	if err != nil {
		return nil, err
	}
	for _, l := range m.Layers {
		if l.Digest == h {
			return &ociLayer{la: o.la, desc: l}, nil
		}
	}
	if m.Config.Digest == h {
		return &ociLayer{la: o.la, desc: m.Config}, nil
	}
	return nil, fmt.Errorf("blob %s not in the manifest", h)
}

type ociLayer struct {
	la   *LocalArchive
	desc v1.Descriptor
}

func (l *ociLayer) Digest() (v1.Hash, error)            { return l.desc.Digest, nil }
func (l *ociLayer) Size() (int64, error)                { return l.desc.Size, nil }
func (l *ociLayer) MediaType() (types.MediaType, error) { return l.desc.MediaType, nil }
func (l *ociLayer) Compressed() (io.ReadCloser, error) {
	rc, _, err := l.la.Section("blobs/sha256/" + l.desc.Digest.Hex)
	return rc, err
}
