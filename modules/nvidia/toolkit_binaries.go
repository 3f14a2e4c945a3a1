package nvidia

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
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

// binaryEdit is one binary to copy from the controller.
type binaryEdit struct {
	path         string
	data         []byte
	before, want string // sha256
}

// checkBinaries compares the controller's binaries with the host's, by
// checksum, after making sure each is an executable of the pinned version.
func (m *Toolkit) checkBinaries(ctx context.Context, h modules.Host, p *toolkitPlan) error {
	upstream, _, _ := strings.Cut(m.Version, "-") // 1.18.0-1 is package 1 of upstream 1.18.0
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
		sum := sha256.Sum256(data)
		want := hex.EncodeToString(sum[:])
		dst := path.Join(binariesInstallDir, name)
		r, err := h.Conn().Run(ctx, "sha256sum "+conn.Quote(dst))
		if err != nil {
			return fmt.Errorf("%s: sha256sum %s: %w", h.Name(), dst, err)
		}
		have := ""
		if f := strings.Fields(r.Stdout); r.OK() && len(f) > 0 {
			have = f[0]
		}
		if have != want {
			p.binaries = append(p.binaries, binaryEdit{path: dst, data: data, before: have, want: want})
		}
	}
	return nil
}

func (e binaryEdit) change() plan.Change {
	c := plan.Change{Resource: "file:" + e.path, Action: plan.Create, Field: "sha256", Before: "absent", After: e.want}
	if e.before != "" {
		c.Action, c.Before = plan.Update, e.before
	}
	return c
}

func (m *Toolkit) applyBinaries(ctx context.Context, h modules.Host, p *toolkitPlan) error {
	for _, e := range p.binaries {
		if err := h.Conn().WriteFile(ctx, e.path, e.data, conn.FileAttrs{Mode: 0o755}); err != nil {
			return fmt.Errorf("%s: install %s: %w", h.Name(), e.path, err)
		}
	}
	return nil
}
