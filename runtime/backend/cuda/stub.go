//go:build !cgo || !linux

package cuda

import (
	"context"
	"errors"

	"github.com/gpuctl/gpuctl/runtime/backend"
	"github.com/gpuctl/gpuctl/runtime/model"
)

// ErrNoLibrary: without cgo the CUDA libraries cannot be opened at all.
var ErrNoLibrary = errors.New("CUDA unavailable: binary built without cgo")

type Options struct {
	Ordinal   int
	MaxRows   int
	NoLt      bool
	ChunkRows int
	Graphs    bool
}

const (
	CopyIn   = 1
	CopyOut  = 2
	CopyBoth = 3
)

// CUDA is never constructed without cgo.
type CUDA struct{}

func New(m *model.Model, prec backend.Precision, o Options) (*CUDA, error) { return nil, ErrNoLibrary }

func (c *CUDA) Forward(ctx context.Context, x []float32, rows int, out []float32) error {
	return ErrNoLibrary
}
func (c *CUDA) Device() backend.Device         { return backend.Device{} }
func (c *CUDA) SetInfo(d backend.Device)       {}
func (c *CUDA) Resident(rows, iters int) error { return ErrNoLibrary }
func (c *CUDA) Copies(rows, iters, dir int) error {
	return ErrNoLibrary
}
func (c *CUDA) AllocHost(n int) ([]float32, error) { return nil, ErrNoLibrary }
func (c *CUDA) FreeHost(b []float32) error         { return ErrNoLibrary }
func (c *CUDA) Close() error                       { return nil }

func (c *CUDA) Paths() (lt, fallback int, why string) { return 0, 0, "" }
