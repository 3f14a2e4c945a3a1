package node

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/internal/fileplan"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:      "swap",
		Summary:   "Turn swap off now and for good (kubelet refuses to start with swap on)",
		CheckMode: "Reads /proc/swaps, /etc/fstab and systemd's swap units and reports the swapoff, fstab edit, unit masks and file removals it would make; changes nothing.",
		Example: `- name: No swap
  swap:
    state: absent
    remove_files: true`,
		New: func() modules.Module { return &Swap{} },
	})
}

// Swap disables swap: swapoff, fstab entries commented out (with a backup of
// the original), systemd swap units masked so that neither the fstab
// generator nor Ubuntu's swap.img unit brings it back at boot.
type Swap struct {
	State       string `yaml:"state" default:"absent" choices:"absent" doc:"absent is the only state: swap off now and after reboots"`
	RemoveFiles bool   `yaml:"remove_files" doc:"delete swap files (not partitions) once they are off"`
	Fstab       string `yaml:"fstab" default:"/etc/fstab" doc:"the fstab to edit"`
	Backup      bool   `yaml:"backup" default:"true" doc:"keep the original fstab as FSTAB.gpuctl.bak before the first edit"`
}

func (s *Swap) Validate() error {
	if !strings.HasPrefix(s.Fstab, "/") {
		return fmt.Errorf("fstab %q: expected an absolute path", s.Fstab)
	}
	return nil
}

// swapEntry is one active swap area from /proc/swaps.
type swapEntry struct {
	Path string
	Type string // file or partition
}

// parseProcSwaps reads /proc/swaps; the first line is a header. Paths with
// spaces are written with \040 there.
func parseProcSwaps(s string) []swapEntry {
	var out []swapEntry
	for i, l := range strings.Split(s, "\n") {
		f := strings.Fields(l)
		if i == 0 || len(f) < 2 {
			continue
		}
		out = append(out, swapEntry{Path: unescapeOctal(f[0]), Type: f[1]})
	}
	return out
}

// disableFstabSwap comments out every active swap line of an fstab and
// returns the new text and the swap sources it disabled.
func disableFstabSwap(fstab string) (string, []string) {
	var disabled []string
	ls := strings.Split(fstab, "\n")
	for i, l := range ls {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		f := strings.Fields(t)
		if len(f) >= 3 && f[2] == "swap" {
			disabled = append(disabled, unescapeOctal(f[0]))
			ls[i] = "#" + l + " # disabled by gpuctl: kubelet needs swap off"
		}
	}
	return strings.Join(ls, "\n"), disabled
}

func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			var n int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &n); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// swapUnitFilesScript lists swap unit files as "NAME masked|present".
// `systemctl list-unit-files` would do, but takes most of a second.
const swapUnitFilesScript = `for f in /etc/systemd/system/*.swap /run/systemd/system/*.swap /run/systemd/generator/*.swap /lib/systemd/system/*.swap /usr/lib/systemd/system/*.swap; do
  [ -e "$f" ] || [ -L "$f" ] || continue
  if [ "$(readlink "$f")" = /dev/null ]; then echo "${f##*/} masked"; else echo "${f##*/} present"; fi
done`

// swapUnit is a systemd swap unit and whether it is masked.
type swapUnit struct {
	Name   string
	Masked bool
}

// parseSwapUnits reads `systemctl list-units --type=swap --all --plain
// --no-legend` and swapUnitFilesScript output: the first column is the
// unit, the load or file state follows.
func parseSwapUnits(units, files string) []swapUnit {
	seen := map[string]int{}
	var out []swapUnit
	add := func(name, state string) {
		if !strings.HasSuffix(name, ".swap") {
			return
		}
		if i, ok := seen[name]; ok {
			out[i].Masked = out[i].Masked || state == "masked"
			return
		}
		seen[name] = len(out)
		out = append(out, swapUnit{Name: name, Masked: state == "masked"})
	}
	for _, l := range lines(units) {
		f := strings.Fields(strings.TrimPrefix(l, "● "))
		if len(f) >= 2 {
			add(f[0], f[1])
		}
	}
	for _, l := range lines(files) {
		f := strings.Fields(l)
		if len(f) >= 2 {
			add(f[0], f[1])
		}
	}
	return out
}

func (s *Swap) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	c := h.Conn()
	st := &steps{}
	procSwaps, ok, err := readFile(ctx, c, "/proc/swaps")
	if err != nil {
		return plan.Diff{}, err
	}
	if !ok {
		return plan.Diff{}, errors.New("/proc/swaps missing: is /proc mounted?")
	}
	active := parseProcSwaps(string(procSwaps))
	files := map[string]bool{}
	for _, e := range active {
		if e.Type == "file" {
			files[e.Path] = true
		}
		st.add(plan.Change{Resource: "swap:" + e.Path, Action: plan.Update, Field: "active", Before: "true", After: "false"},
			func(ctx context.Context, c conn.Conn) error { return sh(ctx, c, "swapoff "+conn.Quote(e.Path)) })
	}

	// Masking stops systemd from activating swap at boot even if an fstab
	// line comes back or Ubuntu's installer unit (swap.img.swap) exists.
	if _, err := output(ctx, c, "command -v systemctl"); err == nil {
		units, _ := c.Run(ctx, "systemctl list-units --type=swap --all --plain --no-legend --no-pager")
		unitFiles, _ := c.Run(ctx, swapUnitFilesScript)
		for _, u := range parseSwapUnits(units.Stdout, unitFiles.Stdout) {
			if u.Masked {
				continue
			}
			st.add(plan.Change{Resource: "service:" + u.Name, Action: plan.Update, Field: "state", Before: "unmasked", After: "masked"},
				func(ctx context.Context, c conn.Conn) error {
					return sh(ctx, c, "systemctl mask "+conn.Quote(u.Name))
				})
		}
	} else {
		st.note("no systemctl on the host: swap units not masked")
	}

	fstab, err := fileplan.Read(ctx, c, s.Fstab)
	if err != nil {
		return plan.Diff{}, err
	}
	if fstab.Exists {
		updated, disabled := disableFstabSwap(string(fstab.Data))
		for _, p := range disabled {
			if strings.HasPrefix(p, "/") && !strings.HasPrefix(p, "/dev/") {
				files[p] = true
			}
		}
		if len(disabled) > 0 {
			var fd plan.Diff
			f, err := fileplan.Plan(ctx, c, fstab, fileplan.Want{Path: s.Fstab, Content: []byte(updated)}, &fd)
			if err != nil {
				return plan.Diff{}, err
			}
			backup := s.Fstab + ".gpuctl.bak"
			st.addAll(fd, func(ctx context.Context, c conn.Conn) error {
				if s.Backup {
					// Keep the first original only: a later run must not
					// overwrite it with an already edited copy.
					if err := sh(ctx, c, "[ -e "+conn.Quote(backup)+" ] || cp -p "+conn.Quote(s.Fstab)+" "+conn.Quote(backup)); err != nil {
						return err
					}
				}
				if _, err := f.Apply(ctx, c, fileplan.Options{}); err != nil {
					return err
				}
				// Drop the units the fstab generator made from the old lines.
				c.Run(ctx, "command -v systemctl >/dev/null && systemctl daemon-reload")
				return nil
			})
		}
	}

	if s.RemoveFiles {
		for p := range files {
			if ok, err := exists(ctx, c, p); err != nil || !ok {
				continue
			}
			st.add(plan.Change{Resource: "file:" + p, Action: plan.Delete},
				func(ctx context.Context, c conn.Conn) error { return sh(ctx, c, "rm -f "+conn.Quote(p)) })
		}
	}
	return st.diff(), nil
}

func (s *Swap) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	return applySteps(ctx, h, "swap", d)
}

var _ modules.Module = (*Swap)(nil)
