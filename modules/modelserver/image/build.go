package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// File is one model file: where it is on the controller and where it goes
// relative to the model directory (in the image, or on the node).
type File struct {
	Rel   string
	Local string
	Size  int64
	Hash  string // sha256 hex
}

// Paths inside the image gpuctl builds.
const (
	imageBinary    = "/usr/local/bin/gpuctl"
	ModelDir       = "/models"     // where the model is baked; manifest.ModelDir mounts it at the same place
	imageUser      = "65532:65532" // nobody-like; the server needs no privileges
	imageBuildRepo = "gpuctl.local/model-server"
)

// epoch is every timestamp in a built image, so the same inputs give the
// same image ID.
var epoch = v1.Time{Time: time.Unix(0, 0).UTC()}

// Spec is what goes into a built image.
type Spec struct {
	Binary      string   // gpuctl on the controller
	ServeArgs   []string // entrypoint after the binary: ["serve"] for gpuctl
	Model       []File   // baked under /models; empty for the built-in model
	BaseArchive string   // docker or OCI archive on the controller; "" for an empty base
	Repo        string   // repository of the tag
	Arch        string   // GOARCH the node runs
	Port        int
	// Interp is the binary's ELF interpreter when it is dynamically
	// linked; on an empty base its libraries are added from this machine.
	Interp string
}

// Built is an image ready to be written, with the names it will have.
type Built struct {
	Ref    string // repo:tag, containerd-normalised
	Config string // image ID
	img    v1.Image
}

// BinaryInfo describes an executable for the checks an image needs.
type BinaryInfo struct {
	OS, Arch string
	Static   bool
	Interp   string
}

// InspectBinary reads an executable's header: the image only works when it
// is a Linux ELF binary for the node's architecture, and, on an empty
// base, statically linked.
func InspectBinary(p string) (BinaryInfo, error) {
	f, err := os.Open(p)
	if err != nil {
		return BinaryInfo{}, err
	}
	defer f.Close()
	var magic [4]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil {
		return BinaryInfo{}, fmt.Errorf("%s: too short to be an executable", p)
	}
	switch {
	case bytes.Equal(magic[:], []byte{0xcf, 0xfa, 0xed, 0xfe}) || bytes.Equal(magic[:], []byte{0xfe, 0xed, 0xfa, 0xcf}) || bytes.Equal(magic[:], []byte{0xca, 0xfe, 0xba, 0xbe}):
		return BinaryInfo{OS: "darwin"}, nil
	case magic[0] == 'M' && magic[1] == 'Z':
		return BinaryInfo{OS: "windows"}, nil
	case !bytes.Equal(magic[:], []byte(elf.ELFMAG)):
		return BinaryInfo{}, fmt.Errorf("%s is not an executable (no ELF header)", p)
	}
	ef, err := elf.NewFile(f)
	if err != nil {
		return BinaryInfo{}, fmt.Errorf("%s: %w", p, err)
	}
	bi := BinaryInfo{OS: "linux", Static: true}
	switch ef.Machine {
	case elf.EM_X86_64:
		bi.Arch = "amd64"
	case elf.EM_AARCH64:
		bi.Arch = "arm64"
	case elf.EM_PPC64:
		bi.Arch = "ppc64le"
	case elf.EM_S390:
		bi.Arch = "s390x"
	default:
		bi.Arch = strings.ToLower(strings.TrimPrefix(ef.Machine.String(), "EM_"))
	}
	for _, prog := range ef.Progs {
		if prog.Type == elf.PT_INTERP {
			bi.Static = false
			b := make([]byte, prog.Filesz)
			if _, err := prog.ReadAt(b, 0); err == nil {
				bi.Interp = strings.TrimRight(string(b), "\x00")
			}
		}
	}
	return bi, nil
}

// CheckBinary says clearly why a binary cannot serve on the node.
func CheckBinary(p string, bi BinaryInfo, arch string) error {
	if bi.OS != "linux" {
		return fmt.Errorf("binary %s is a %s executable; the node needs a linux/%s gpuctl: build one (GOOS=linux GOARCH=%s go build) and pass it as binary, or give image", p, bi.OS, arch, arch)
	}
	if bi.Arch != arch {
		return fmt.Errorf("binary %s is built for linux/%s but the node is linux/%s: pass a linux/%s gpuctl as binary, or give image", p, bi.Arch, arch, arch)
	}
	return nil
}

// LayerFile is one regular file of a layer.
type LayerFile struct {
	Path string // absolute, in the image
	Mode int64
	Data []byte
}

// LayerTar writes files as a tar with their parent directories, sorted,
// owned by root and dated at the epoch: the same files always give the
// same bytes and so the same diff ID.
func LayerTar(files []LayerFile) ([]byte, error) {
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	for _, f := range files {
		var parents []string
		for d := path.Dir(f.Path); d != "/" && d != "."; d = path.Dir(d) {
			parents = append([]string{d}, parents...)
		}
		for _, d := range parents {
			if dirs[d] {
				continue
			}
			dirs[d] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(d, "/") + "/", Mode: 0o755, ModTime: epoch.Time, Format: tar.FormatPAX}); err != nil {
				return nil, err
			}
		}
		h := &tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(f.Path, "/"), Mode: f.Mode, Size: int64(len(f.Data)), ModTime: epoch.Time, Format: tar.FormatPAX}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.Data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// builtLayer is an uncompressed layer with its diff ID known; it is
// compressed only when the archive is written.
type builtLayer struct {
	data    []byte
	diffID  v1.Hash
	history string
}

func newLayer(files []LayerFile, history string) (builtLayer, error) {
	data, err := LayerTar(files)
	if err != nil {
		return builtLayer{}, err
	}
	sum := sha256.Sum256(data)
	return builtLayer{data: data, diffID: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}, history: history}, nil
}

// Build assembles the image in memory. The image ID and tag come
// from the config alone (base config, diff IDs, entrypoint), so they are
// known without compressing anything: check mode and a re-run compare
// them with containerd before any archive is written.
func Build(spec Spec) (*Built, error) {
	base := empty.Image
	if spec.BaseArchive != "" {
		var err error
		if base, err = loadBase(spec.BaseArchive, spec.Arch); err != nil {
			return nil, fmt.Errorf("base_image %s: %w", spec.BaseArchive, err)
		}
	}
	bin, err := os.ReadFile(spec.Binary)
	if err != nil {
		return nil, fmt.Errorf("read binary: %w", err)
	}
	var layers []builtLayer
	l, err := newLayer([]LayerFile{{Path: imageBinary, Mode: 0o755, Data: bin}}, "gpuctl model_server: "+imageBinary)
	if err != nil {
		return nil, err
	}
	layers = append(layers, l)
	if spec.BaseArchive == "" && spec.Interp != "" {
		libs, err := runtimeLibs(spec.Binary, spec.Interp, spec.Arch)
		if err != nil {
			return nil, fmt.Errorf("binary %s is dynamically linked and its libraries cannot be taken from this machine (%w): give base_image (an image archive with glibc, e.g. a CUDA runtime image) or build gpuctl with CGO_ENABLED=0", spec.Binary, err)
		}
		l, err := newLayer(libs, "gpuctl model_server: the binary's C libraries from the controller")
		if err != nil {
			return nil, err
		}
		layers = append(layers, l)
	}
	if len(spec.Model) > 0 {
		var files []LayerFile
		for _, mf := range spec.Model {
			b, err := os.ReadFile(mf.Local)
			if err != nil {
				return nil, fmt.Errorf("read model file: %w", err)
			}
			files = append(files, LayerFile{Path: path.Join(ModelDir, mf.Rel), Mode: 0o644, Data: b})
		}
		l, err := newLayer(files, "gpuctl model_server: model under "+ModelDir)
		if err != nil {
			return nil, err
		}
		layers = append(layers, l)
	}
	cf, err := base.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("base image config: %w", err)
	}
	cfg := imageConfig(cf.DeepCopy(), spec, spec.BaseArchive == "")
	if spec.BaseArchive == "" && spec.Interp != "" {
		// Without /etc/ld.so.cache the loader knows only its built-in
		// directories, which need not include the multiarch ones.
		cfg.Config.Env = append(cfg.Config.Env, "LD_LIBRARY_PATH="+strings.Join(libDirs[spec.Arch][:2], ":"))
	}
	for _, l := range layers {
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, l.diffID)
		cfg.History = append(cfg.History, v1.History{Created: epoch, CreatedBy: l.history})
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(raw)
	id := "sha256:" + hex.EncodeToString(sum[:])
	ref, err := NormalizeRef(spec.Repo + ":" + hex.EncodeToString(sum[:])[:16])
	if err != nil {
		return nil, fmt.Errorf("image_repository: %w", err)
	}
	var adds []mutate.Addendum
	for _, l := range layers {
		data := l.data
		layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(data)), nil
		}, tarball.WithCompressionLevel(gzip.BestSpeed))
		if err != nil {
			return nil, err
		}
		adds = append(adds, mutate.Addendum{Layer: layer, History: v1.History{Created: epoch, CreatedBy: l.history}})
	}
	img, err := mutate.Append(base, adds...)
	if err != nil {
		return nil, err
	}
	// The config computed above, diff IDs included, replaces the one
	// Append derives, so the ID is exactly the one the tag was made from.
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		return nil, err
	}
	return &Built{Ref: ref, Config: id, img: img}, nil
}

// imageConfig sets what the server needs on top of the base's config.
func imageConfig(cf *v1.ConfigFile, spec Spec, emptyBase bool) *v1.ConfigFile {
	cf.Architecture, cf.OS = spec.Arch, "linux"
	cf.Variant = ""
	cf.Created = epoch
	cf.Author = "gpuctl"
	cf.Container, cf.DockerVersion = "", ""
	c := &cf.Config
	c.Entrypoint = append([]string{imageBinary}, spec.ServeArgs...)
	c.Cmd = nil
	c.WorkingDir = "/"
	if emptyBase {
		c.User = imageUser
		c.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	}
	// Without it the NVIDIA runtime mounts only utility libraries, and the
	// CUDA path finds no libcuda.
	if !hasEnv(c.Env, "NVIDIA_DRIVER_CAPABILITIES") {
		c.Env = append(c.Env, "NVIDIA_DRIVER_CAPABILITIES=compute,utility")
	}
	c.ExposedPorts = map[string]struct{}{fmt.Sprintf("%d/tcp", spec.Port): {}}
	if c.Labels == nil {
		c.Labels = map[string]string{}
	}
	c.Labels["org.opencontainers.image.title"] = "gpuctl model server"
	c.Labels["org.opencontainers.image.vendor"] = "gpuctl"
	return cf
}

func hasEnv(env []string, key string) bool {
	for _, e := range env {
		if strings.HasPrefix(e, key+"=") {
			return true
		}
	}
	return false
}

// writeArchive writes the image as a docker archive (what `ctr images
// import` and `docker load` read) to path, atomically, unless a file of that
// name exists already: the name holds the image's content hash.
func (b *Built) WriteArchive(p string) error {
	if _, err := os.Stat(p); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	tag, err := name.NewTag(b.Ref, name.StrictValidation)
	if err != nil {
		return fmt.Errorf("tag %s: %w", b.Ref, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tarball.Write(tag, b.img, tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("write image archive %s: %w", p, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), p)
}

var ErrNoImage = errors.New("no image for this platform")
