package image

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"regexp"
	"strings"
)

// ArchiveImage is one image an archive holds, as containerd will name it.
type ArchiveImage struct {
	// Refs are the image's names, normalised the way containerd stores them
	// (docker.io/library/busybox:latest).
	Refs []string
	// Target is the manifest or index digest for OCI archives: containerd
	// keeps it as the image's target. Empty for docker archives, whose
	// manifest containerd writes itself on import.
	Target string
	// Config is the image ID (config digest) for docker archives.
	Config string
}

// id is what identifies the image's content on both sides.
func (a ArchiveImage) ID() string {
	if a.Target != "" {
		return a.Target
	}
	return a.Config
}

// ArchiveInfo is what an archive holds.
type ArchiveInfo struct {
	Path   string // on the controller, or on the host for remote archives
	Size   int64
	Format string // "docker" (docker save / go-containerregistry tarball) or "oci"
	Images []ArchiveImage
}

// FileSource reads named files out of an archive.
type FileSource interface {
	Read(name string) ([]byte, error)
}

// smallFile is the largest archive member kept in memory while scanning a
// compressed archive: manifests, configs and indexes are far smaller.
const smallFile = 4 << 20

var ErrNoMember = errors.New("not in the archive")

// LocalArchive indexes a tar archive on the controller in one pass. An
// uncompressed archive is read with seeks, so a 100 MB archive costs a
// few hundred header reads; a gzip one is streamed once, keeping its small
// members.
type LocalArchive struct {
	path    string
	offsets map[string][2]int64 // name -> offset, size (uncompressed archives)
	small   map[string][]byte   // name -> content (compressed archives)
}

func OpenLocalArchive(p string) (*LocalArchive, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	if fi.IsDir() {
		return nil, 0, fmt.Errorf("%s is a directory", p)
	}
	la := &LocalArchive{path: p, offsets: map[string][2]int64{}, small: map[string][]byte{}}
	br := bufio.NewReader(f)
	magic, _ := br.Peek(2)
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, 0, err
		}
		tr := tar.NewReader(zr)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, 0, fmt.Errorf("read %s: %w", p, err)
			}
			if h.Typeflag == tar.TypeReg && h.Size <= smallFile {
				b, err := io.ReadAll(tr)
				if err != nil {
					return nil, 0, fmt.Errorf("read %s: %w", p, err)
				}
				la.small[MemberName(h.Name)] = b
			}
		}
		return la, fi.Size(), nil
	}
	// tar.Reader skips file bodies with Seek when the reader allows it;
	// offsets come from the position after each header.
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, 0, err
	}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, 0, fmt.Errorf("read %s: not a tar archive: %w", p, err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		off, err := f.Seek(0, io.SeekCurrent)
		if err != nil {
			return nil, 0, err
		}
		la.offsets[MemberName(h.Name)] = [2]int64{off, h.Size}
	}
	return la, fi.Size(), nil
}

func MemberName(n string) string { return strings.TrimPrefix(path.Clean("/"+n), "/") }

func (a *LocalArchive) Read(name string) ([]byte, error) {
	if b, ok := a.small[name]; ok {
		return b, nil
	}
	o, ok := a.offsets[name]
	if !ok {
		return nil, fmt.Errorf("%s: %w", name, ErrNoMember)
	}
	f, err := os.Open(a.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, o[1])
	if _, err := f.ReadAt(b, o[0]); err != nil {
		return nil, fmt.Errorf("read %s in %s: %w", name, a.path, err)
	}
	return b, nil
}

// section opens a member of an uncompressed archive for streaming.
func (a *LocalArchive) Section(name string) (io.ReadCloser, int64, error) {
	if b, ok := a.small[name]; ok {
		return io.NopCloser(bytes.NewReader(b)), int64(len(b)), nil
	}
	o, ok := a.offsets[name]
	if !ok {
		return nil, 0, fmt.Errorf("%s: %w", name, ErrNoMember)
	}
	f, err := os.Open(a.path)
	if err != nil {
		return nil, 0, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.NewSectionReader(f, o[0], o[1]), f}, o[1], nil
}

func (a *LocalArchive) Has(name string) bool {
	_, ok := a.offsets[name]
	if !ok {
		_, ok = a.small[name]
	}
	return ok
}

// InspectArchive lists the images of an archive: an OCI layout (index.json)
// or a docker save archive (manifest.json).
func InspectArchive(src FileSource, where string) (string, []ArchiveImage, error) {
	idx, err := src.Read("index.json")
	if err != nil && !errors.Is(err, ErrNoMember) {
		return "", nil, err
	}
	if err == nil {
		imgs, named, err := ociImages(idx)
		if err != nil {
			return "", nil, fmt.Errorf("%s: index.json: %w", where, err)
		}
		if named {
			return "oci", imgs, nil
		}
	}
	man, err := src.Read("manifest.json")
	if errors.Is(err, ErrNoMember) {
		if idx != nil {
			return "", nil, fmt.Errorf("%s: no image in index.json has a full name (annotation io.containerd.image.name, or org.opencontainers.image.ref.name holding a whole reference); containerd could not name it", where)
		}
		return "", nil, fmt.Errorf("%s: neither index.json nor manifest.json: not an OCI or docker image archive", where)
	}
	if err != nil {
		return "", nil, err
	}
	imgs, err := dockerImages(man, src)
	if err != nil {
		return "", nil, fmt.Errorf("%s: manifest.json: %w", where, err)
	}
	return "docker", imgs, nil
}

func ociImages(idx []byte) ([]ArchiveImage, bool, error) {
	var index struct {
		Manifests []struct {
			Digest      string            `json:"digest"`
			Annotations map[string]string `json:"annotations"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal(idx, &index); err != nil {
		return nil, false, err
	}
	var out []ArchiveImage
	for _, m := range index.Manifests {
		n := m.Annotations["io.containerd.image.name"]
		if n == "" {
			// A bare tag ("v1") needs a base name containerd is not given.
			if r := m.Annotations["org.opencontainers.image.ref.name"]; strings.ContainsAny(r, "/:") {
				n = r
			}
		}
		if n == "" {
			continue
		}
		ref, err := NormalizeRef(n)
		if err != nil {
			return nil, false, err
		}
		if !digestRE.MatchString(m.Digest) {
			return nil, false, fmt.Errorf("image %s: digest %q is not a sha256 digest", n, m.Digest)
		}
		out = append(out, ArchiveImage{Refs: []string{ref}, Target: m.Digest})
	}
	return mergeRefs(out), len(out) > 0, nil
}

var (
	digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	hexRE    = regexp.MustCompile(`[0-9a-f]{64}`)
)

func dockerImages(man []byte, src FileSource) ([]ArchiveImage, error) {
	var entries []struct {
		Config   string   `json:"Config"`
		RepoTags []string `json:"RepoTags"`
	}
	if err := json.Unmarshal(man, &entries); err != nil {
		return nil, err
	}
	var out []ArchiveImage
	for _, e := range entries {
		if len(e.RepoTags) == 0 {
			return nil, fmt.Errorf("image %s has no RepoTags: containerd would import it without a name", e.Config)
		}
		// docker save and go-containerregistry name the config after its
		// digest; anything else is hashed.
		id := ""
		if h := hexRE.FindString(path.Base(e.Config)); h != "" {
			id = "sha256:" + h
		} else {
			b, err := src.Read(MemberName(e.Config))
			if err != nil {
				return nil, fmt.Errorf("config %s: %w", e.Config, err)
			}
			sum := sha256.Sum256(b)
			id = "sha256:" + hex.EncodeToString(sum[:])
		}
		img := ArchiveImage{Config: id}
		for _, t := range e.RepoTags {
			ref, err := NormalizeRef(t)
			if err != nil {
				return nil, err
			}
			img.Refs = append(img.Refs, ref)
		}
		out = append(out, img)
	}
	if len(out) == 0 {
		return nil, errors.New("no images")
	}
	return out, nil
}

// mergeRefs joins entries for the same content (one image with two names).
func mergeRefs(in []ArchiveImage) []ArchiveImage {
	var out []ArchiveImage
	pos := map[string]int{}
	for _, a := range in {
		if i, ok := pos[a.ID()]; ok {
			out[i].Refs = append(out[i].Refs, a.Refs...)
			continue
		}
		pos[a.ID()] = len(out)
		out = append(out, a)
	}
	return out
}

// NormalizeRef spells a reference as containerd stores it: with the
// registry, docker.io's library/ prefix and the default tag.
func NormalizeRef(s string) (string, error) {
	orig := s
	if s == "" || strings.ContainsAny(s, " \t\n") || s != strings.TrimSpace(s) {
		return "", fmt.Errorf("image name %q is not a reference", orig)
	}
	digest := ""
	if i := strings.Index(s, "@"); i >= 0 {
		s, digest = s[:i], s[i:]
		if !digestRE.MatchString(digest[1:]) {
			return "", fmt.Errorf("image name %q: bad digest", orig)
		}
	}
	domain, rest := "docker.io", s
	if i := strings.Index(s, "/"); i >= 0 {
		first := s[:i]
		if strings.ContainsAny(first, ".:") || first == "localhost" {
			domain, rest = first, s[i+1:]
		}
	}
	if domain == "index.docker.io" {
		domain = "docker.io"
	}
	repo, tag := rest, ""
	if i := strings.LastIndex(rest, ":"); i >= 0 && !strings.Contains(rest[i:], "/") {
		repo, tag = rest[:i], rest[i+1:]
		if tag == "" {
			return "", fmt.Errorf("image name %q: empty tag", orig)
		}
	}
	if domain == "docker.io" && !strings.Contains(repo, "/") {
		repo = "library/" + repo
	}
	if repo == "" || repo != strings.ToLower(repo) || !repoRE.MatchString(repo) {
		return "", fmt.Errorf("image name %q: repository %q must be lower case letters, digits and . _ - / separators", orig, repo)
	}
	if tag == "" && digest == "" {
		tag = "latest"
	}
	if tag != "" && !tagRE.MatchString(tag) {
		return "", fmt.Errorf("image name %q: bad tag %q", orig, tag)
	}
	out := domain + "/" + repo
	if tag != "" {
		out += ":" + tag
	}
	return out + digest, nil
}

var (
	repoRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$`)
	tagRE  = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
)

// InspectLocal reads an archive's image list on the controller.
func InspectLocal(p string) (ArchiveInfo, error) {
	la, size, err := OpenLocalArchive(p)
	if err != nil {
		return ArchiveInfo{}, fmt.Errorf("image archive %s: %w", p, err)
	}
	format, imgs, err := InspectArchive(la, p)
	if err != nil {
		return ArchiveInfo{}, err
	}
	return ArchiveInfo{Path: p, Size: size, Format: format, Images: imgs}, nil
}
