package nvidia

import (
	"bytes"
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/internal/fileplan"
)

// toolkitBinaries are what an air-gapped host needs from the toolkit since
// 1.18, whose runtime resolves its "auto" mode to jit-cdi on NVML hosts: it
// writes the CDI edits itself and needs neither libnvidia-container nor
// nvidia-container-runtime-hook. nvidia-cdi-hook runs inside the CDI edits;
// nvidia-ctk generates and lists CDI specifications.
var toolkitBinaries = []string{"nvidia-container-runtime", "nvidia-cdi-hook", "nvidia-ctk"}

// binariesInstallDir is where the packages put them, and where containerd's
// nvidia runtime (NVIDIARuntimeBinary) is looked for.
const binariesInstallDir = "/usr/bin"

// checkBinaries compares the controller's binaries with the host's, by
// checksum, after making sure each is an executable of the pinned version.
func (m *Toolkit) checkBinaries(ctx context.Context, h modules.Host, p *toolkitPlan) error {
	upstream, _, _ := strings.Cut(m.Version, "-") // 1.18.0-1 is package 1 of upstream 1.18.0
	var blobs []fileplan.Blob
	for _, name := range toolkitBinaries {
		src := path.Join(m.BinariesDir, name)
		data, err := h.Local().ReadFile(ctx, src)
		if err != nil {
			return fmt.Errorf("%s: read %s on the controller: %w", h.Name(), src, err)
		}
		if !bytes.HasPrefix(data, []byte("\x7fELF")) {
			return fmt.Errorf("%s: %s is not an ELF executable", h.Name(), src)
		}
		if !bytes.Contains(data, []byte(upstream)) {
			return fmt.Errorf("%s: %s does not carry version %s: built for another release (set version to the one it was built at)", h.Name(), src, upstream)
		}
		blobs = append(blobs, fileplan.BytesBlob(path.Join(binariesInstallDir, name), data, 0o755, src))
	}
	b, err := fileplan.CheckBlobs(ctx, h.Conn(), blobs, &p.binaryChanges)
	if err != nil {
		return fmt.Errorf("%s: %w", h.Name(), err)
	}
	p.binaries = b
	return nil
}

func (m *Toolkit) applyBinaries(ctx context.Context, h modules.Host, p *toolkitPlan) error {
	if err := p.binaries.Apply(ctx, h.Conn()); err != nil {
		return fmt.Errorf("%s: install the toolkit's binaries: %w", h.Name(), err)
	}
	return nil
}
