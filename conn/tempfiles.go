package conn

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"strings"
)

// TempMarker is in the name of every temporary file gpuctl writes beside a
// target: ".<name>.gpuctl-<token>". An atomic write leaves one behind only
// when it is cut off between upload and rename (the controller killed, the
// link or sshd gone); the next write of the same target removes it, and
// `find / -xdev -name '.*.gpuctl-*'` finds any other.
const TempMarker = ".gpuctl-"

// TempName is a hidden, unique name beside p, in p's directory so that the
// final rename stays within one filesystem.
func TempName(p string) string {
	return path.Join(path.Dir(p), TempPrefix(p)+randomToken()[:12])
}

// TempPrefix is the base name every temporary file of p starts with.
func TempPrefix(p string) string { return "." + path.Base(p) + TempMarker }

// IsTempOf reports whether name (a base name) is a temporary file of p.
func IsTempOf(name, p string) bool { return strings.HasPrefix(name, TempPrefix(p)) }

// Planned is what a caller saw at a path when it decided to replace it
// (FileAttrs.Planned): the file was missing, or had contents with this
// SHA-256.
type Planned struct {
	Missing bool
	SHA256  [32]byte
}

// PlannedFrom describes the file a caller read: nil data with !exists is
// a missing file.
func PlannedFrom(data []byte, exists bool) *Planned {
	if !exists {
		return &Planned{Missing: true}
	}
	return &Planned{SHA256: sha256.Sum256(data)}
}

func (p Planned) String() string {
	if p.Missing {
		return "missing"
	}
	return "sha256 " + hex.EncodeToString(p.SHA256[:])[:16] + "…"
}

// ErrChanged is matched (errors.Is) by a *ChangedError.
var ErrChanged = errors.New("file changed since it was checked")

// ChangedError is a write refused because the target is no longer what
// the caller planned against: someone else wrote it between check and
// apply. The target is left as that someone made it.
type ChangedError struct {
	Path    string
	Planned Planned
	Now     Planned
}

func (e *ChangedError) Error() string {
	return fmt.Sprintf("%s changed on the host after this task checked it (planned against %s, now %s): "+
		"not replacing contents this run did not plan against; re-run to plan against the new contents",
		e.Path, e.Planned, e.Now)
}

func (e *ChangedError) Is(target error) bool { return target == ErrChanged }

// CheckPlanned compares what is at a path now with what was planned, and
// returns a *ChangedError when they differ. now is nil for a missing file.
func CheckPlanned(p string, planned *Planned, now *[32]byte) error {
	if planned == nil {
		return nil
	}
	cur := Planned{Missing: now == nil}
	if now != nil {
		cur.SHA256 = *now
	}
	if cur == *planned {
		return nil
	}
	return &ChangedError{Path: p, Planned: *planned, Now: cur}
}

// RemoveTemps removes what earlier, cut-off writes of p left beside it
// (names from TempName), all but keep. A write calls it once its own
// rename is done. Errors are returned joined; a caller may ignore them,
// since a leftover harms nothing but disk space.
func RemoveTemps(ctx context.Context, names []string, p, keep string, remove func(context.Context, string) error) error {
	var errs []error
	for _, n := range names {
		full := path.Join(path.Dir(p), n)
		if !IsTempOf(n, p) || full == keep {
			continue
		}
		if err := remove(ctx, full); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
