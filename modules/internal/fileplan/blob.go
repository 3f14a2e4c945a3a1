package fileplan

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/plan"
)

// Blob is a large file (a binary, model weights) compared by checksum on
// the host instead of by reading it back, so a 100 MB file costs one
// sha256sum and is uploaded only when it changed.
type Blob struct {
	Path   string // on the host
	Mode   fs.FileMode
	SHA256 string // hex, of the wanted contents
	Size   int64
	From   string // where the contents come from, for the plan
	// Data returns the contents; Apply calls it only for a blob it writes,
	// so unchanged large files are never read on the controller.
	Data func() ([]byte, error)
}

// BytesBlob is a Blob whose contents are already in memory.
func BytesBlob(p string, data []byte, mode fs.FileMode, from string) Blob {
	sum := sha256.Sum256(data)
	return Blob{Path: p, Mode: mode, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(data)), From: from,
		Data: func() ([]byte, error) { return data, nil }}
}

// Blobs are the blobs whose checksum differs on the host.
type Blobs struct{ list []Blob }

// Changed reports whether Apply would write anything.
func (b *Blobs) Changed() bool { return b != nil && len(b.list) > 0 }

// CheckBlobs hashes every path on the host in one command and adds a
// change for each blob that is missing or differs.
func CheckBlobs(ctx context.Context, c conn.Conn, blobs []Blob, d *plan.Diff) (*Blobs, error) {
	var paths []string
	for _, b := range blobs {
		paths = append(paths, b.Path)
	}
	have, err := remoteHashes(ctx, c, paths)
	if err != nil {
		return nil, err
	}
	out := &Blobs{}
	for _, b := range blobs {
		got, ok := have[b.Path]
		if ok && got == b.SHA256 {
			continue
		}
		ch := plan.Change{Resource: "file:" + b.Path, Action: plan.Create, Field: "sha256", After: b.describe()}
		if ok {
			ch.Action, ch.Before = plan.Update, "sha256:"+got[:min(12, len(got))]
		}
		d.Add(ch)
		out.list = append(out.list, b)
	}
	return out, nil
}

func (b Blob) describe() string {
	s := "sha256:" + b.SHA256[:min(12, len(b.SHA256))] + " (" + HumanBytes(b.Size)
	if b.From != "" {
		s += " from " + b.From
	}
	return s + ")"
}

// Apply writes the blobs, creating their directories.
func (b *Blobs) Apply(ctx context.Context, c conn.Conn) error {
	if b == nil {
		return nil
	}
	made := map[string]bool{}
	for _, it := range b.list {
		if dir := path.Dir(it.Path); !made[dir] {
			if _, err := conn.MkdirAll(ctx, c, dir); err != nil {
				return fmt.Errorf("create %s: %w", dir, err)
			}
			made[dir] = true
		}
		data, err := it.Data()
		if err != nil {
			return fmt.Errorf("read %s: %w", it.From, err)
		}
		if err := c.WriteFile(ctx, it.Path, data, conn.FileAttrs{Mode: it.Mode}); err != nil {
			return fmt.Errorf("write %s: %w", it.Path, err)
		}
	}
	return nil
}

// remoteHashes returns sha256 hex by path for the paths that are regular
// files.
func remoteHashes(ctx context.Context, c conn.Conn, paths []string) (map[string]string, error) {
	if len(paths) == 0 {
		return nil, nil
	}
	var q []string
	for _, p := range paths {
		q = append(q, conn.Quote(p))
	}
	res, err := c.Run(ctx, "for f in "+strings.Join(q, " ")+`; do [ -f "$f" ] && LC_ALL=C sha256sum -- "$f"; done; true`)
	if err != nil {
		return nil, fmt.Errorf("sha256sum: %w", err)
	}
	if res.ExitCode != 0 {
		return nil, fmt.Errorf("sha256sum: %s", strings.TrimSpace(res.Stderr))
	}
	out := map[string]string{}
	for _, l := range strings.Split(res.Stdout, "\n") {
		// sha256sum escapes a name with a backslash or newline and marks
		// the line with a leading backslash.
		h, p, ok := strings.Cut(l, "  ")
		if ok {
			out[strings.TrimPrefix(p, "\\")] = strings.TrimPrefix(h, "\\")
		}
	}
	return out, nil
}

// HumanBytes prints a size in binary units ("1.5 MiB") for plans and logs.
func HumanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
