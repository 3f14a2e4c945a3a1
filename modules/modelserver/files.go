package modelserver

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"

	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/internal/fileplan"
	"github.com/gpuctl/gpuctl/plan"
)

// fileSync is the controller files whose hash differs on the host.
type fileSync struct {
	blobs *fileplan.Blobs
	diff  plan.Diff
}

// blobOf is a controller file that should be at remote with mode; it is
// read only when it is uploaded.
func blobOf(f modelFile, remote string, mode fs.FileMode) fileplan.Blob {
	return fileplan.Blob{Path: remote, Mode: mode, SHA256: f.Hash, Size: f.Size, From: f.Local,
		Data: func() ([]byte, error) { return os.ReadFile(f.Local) }}
}

// planSync compares files by hash, so a 100 MB binary is uploaded only when
// it changed.
func planSync(ctx context.Context, h modules.Host, blobs []fileplan.Blob) (*fileSync, error) {
	s := &fileSync{}
	b, err := fileplan.CheckBlobs(ctx, h.Conn(), blobs, &s.diff)
	if err != nil {
		return nil, fmt.Errorf("host %s: %w", h.Name(), err)
	}
	s.blobs = b
	return s, nil
}

func (s *fileSync) changed() bool { return s != nil && s.blobs.Changed() }

func (s *fileSync) apply(ctx context.Context, h modules.Host) error {
	if s == nil {
		return nil
	}
	if err := s.blobs.Apply(ctx, h.Conn()); err != nil {
		return fmt.Errorf("host %s: %w", h.Name(), err)
	}
	return nil
}

// modelBlobs places model files under dir on the host.
func modelBlobs(dir string, files []modelFile) []fileplan.Blob {
	var blobs []fileplan.Blob
	for _, f := range files {
		blobs = append(blobs, blobOf(f, path.Join(dir, f.Rel), 0o644))
	}
	return blobs
}

// planFiles places model files under dir on the host.
func planFiles(ctx context.Context, h modules.Host, dir string, files []modelFile) (*fileSync, error) {
	return planSync(ctx, h, modelBlobs(dir, files))
}
