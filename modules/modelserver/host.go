package modelserver

import (
	"context"
	"fmt"
	"net"
	"path"
	"strconv"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/internal/fileplan"
	"github.com/gpuctl/gpuctl/modules/modelserver/image"
	"github.com/gpuctl/gpuctl/plan"
)

// hostState carries a host-mode plan from Check to Apply.
type hostState struct {
	model   *loadedModel
	files   *fileSync // binary and model files
	unit    *fileplan.File
	enable  bool
	restart bool // start, or restart to pick up changed files
}

func (m *ModelServer) unitName() string { return m.Name + ".service" }
func (m *ModelServer) unitPath() string { return "/etc/systemd/system/" + m.unitName() }

// unitFile is the systemd unit of host mode.
func (m *ModelServer) unitFile(lm *loadedModel, binary string) []byte {
	modelPath := ""
	if !lm.Builtin {
		modelPath = path.Join(m.ModelDir, lm.Arch)
	}
	args := append([]string{m.BinaryPath}, serveArgs(binary)...)
	args = append(args, m.flags(net.JoinHostPort(m.Address, strconv.Itoa(m.Port)), modelPath)...)
	var q []string
	for _, a := range args {
		q = append(q, systemdQuote(a))
	}
	var b strings.Builder
	fmt.Fprintf(&b, `# Written by gpuctl (model_server); local changes are overwritten.
[Unit]
Description=gpuctl model server %s
After=network-online.target
Wants=network-online.target

[Service]
Type=exec
ExecStart=%s
Restart=on-failure
RestartSec=2
# SIGTERM drains requests in flight before the server exits.
TimeoutStopSec=45
DynamicUser=yes
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes

[Install]
WantedBy=multi-user.target
`, m.Name, strings.Join(q, " "))
	return []byte(b.String())
}

// systemdQuote quotes one ExecStart word: systemd expands % specifiers and
// $ variables, and splits on spaces.
func systemdQuote(s string) string {
	s = strings.ReplaceAll(s, "%", "%%")
	s = strings.ReplaceAll(s, "$", "$$")
	if s != "" && !strings.ContainsAny(s, " \t\"'\\;") {
		return s
	}
	s = strings.ReplaceAll(s, `\`, `\\`)
	s = strings.ReplaceAll(s, `"`, `\"`)
	return `"` + s + `"`
}

func (m *ModelServer) checkHost(ctx context.Context, h modules.Host) (plan.Diff, error) {
	var d plan.Diff
	lm, err := loadModel(m.Model)
	if err != nil {
		return d, err
	}
	bin, err := m.binaryPath(h)
	if err != nil {
		return d, err
	}
	bi, err := image.InspectBinary(bin)
	if err != nil {
		return d, fmt.Errorf("binary: %w", err)
	}
	arch, err := hostArch(ctx, h)
	if err != nil {
		return d, err
	}
	if err := image.CheckBinary(bin, bi, arch); err != nil {
		return d, err
	}
	bf, err := hashFile(bin)
	if err != nil {
		return d, fmt.Errorf("binary: %w", err)
	}
	blobs := append([]fileplan.Blob{blobOf(bf, m.BinaryPath, 0o755)}, modelBlobs(m.ModelDir, lm.Files)...)
	st := &hostState{model: lm}
	if st.files, err = planSync(ctx, h, blobs); err != nil {
		return d, err
	}
	d.Merge(st.files.diff)

	st.unit, err = fileplan.Check(ctx, h.Conn(), fileplan.Want{Path: m.unitPath(), Content: m.unitFile(lm, bin)}, &d)
	if err != nil {
		return d, fmt.Errorf("host %s: %w", h.Name(), err)
	}

	out, err := conn.Output(ctx, h.Conn(), conn.Join("systemctl", "show", m.unitName(), "--no-pager", "--property=ActiveState,UnitFileState"))
	if err != nil {
		return d, fmt.Errorf("host %s: systemctl show %s: %w (host mode needs systemd)", h.Name(), m.unitName(), err)
	}
	props := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			props[k] = v
		}
	}
	res := "service:" + m.Name
	if ufs := props["UnitFileState"]; ufs != "enabled" {
		st.enable = true
		d.Add(plan.Change{Resource: res, Action: plan.Update, Field: "enabled", Before: orNone(ufs), After: "enabled"})
	}
	active := props["ActiveState"] == "active" || props["ActiveState"] == "activating"
	switch {
	case !active:
		st.restart = true
		d.Add(plan.Change{Resource: res, Action: plan.Update, Field: "state", Before: orNone(props["ActiveState"]), After: "started"})
	case st.unit.Changed() || st.files.changed():
		st.restart = true
		d.Add(plan.Change{Resource: res, Action: plan.Update, Field: "restart", Before: "running old files", After: "restarted"})
	}
	d.State = st
	return d, nil
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func (m *ModelServer) applyHost(ctx context.Context, h modules.Host, d plan.Diff) error {
	st, err := modules.StateOf[*hostState](h, "model_server", d)
	if err != nil {
		return err
	}
	if err := st.files.apply(ctx, h); err != nil {
		return err
	}
	var cmds []string
	if st.unit.Changed() {
		if _, err := st.unit.Apply(ctx, h.Conn(), fileplan.Options{Log: h.Log()}); err != nil {
			return fmt.Errorf("host %s: %w", h.Name(), err)
		}
		cmds = append(cmds, "systemctl daemon-reload")
	}
	if st.enable {
		cmds = append(cmds, conn.Join("systemctl", "enable", m.unitName()))
	}
	if st.restart {
		cmds = append(cmds, conn.Join("systemctl", "restart", m.unitName()))
	}
	if len(cmds) > 0 {
		if _, err := conn.Output(ctx, h.Conn(), strings.Join(cmds, " && ")); err != nil {
			return fmt.Errorf("host %s: %w\n%s", h.Name(), err, m.journal(ctx, h))
		}
	}
	if !m.Verify {
		return nil
	}
	addr := net.JoinHostPort(m.dialAddress(), strconv.Itoa(m.Port))
	if err := waitReady(ctx, h.Conn(), addr, m.Timeout); err != nil {
		return fmt.Errorf("host %s: %s at %s: %w\n%s", h.Name(), m.unitName(), addr, err, m.journal(ctx, h))
	}
	res, err := predict(ctx, h.Conn(), addr, st.model.In, st.model.Out)
	if err != nil {
		return fmt.Errorf("host %s: prediction from %s at %s: %w\n%s", h.Name(), m.unitName(), addr, err, m.journal(ctx, h))
	}
	m.message = fmt.Sprintf("%s at %s answered %s", m.unitName(), addr, res)
	return nil
}

// dialAddress is where the host reaches its own server.
func (m *ModelServer) dialAddress() string {
	switch m.Address {
	case "0.0.0.0", "::", "[::]":
		return "127.0.0.1"
	}
	return m.Address
}

// journal is the unit's recent log, for failures, without the command
// usage a flag error prints after the error itself.
func (m *ModelServer) journal(ctx context.Context, h modules.Host) string {
	out, _ := h.Conn().Run(ctx, conn.Join("journalctl", "-u", m.unitName(), "-n", "200", "--no-pager", "-o", "cat"))
	lines := dropUsage(strings.Split(strings.TrimSpace(out.Stdout), "\n"))
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	if len(lines) == 0 || lines[0] == "" {
		return "  (no journal lines for " + m.unitName() + ")"
	}
	return "  journal of " + m.unitName() + " (last lines):\n    " + strings.Join(lines, "\n    ")
}

// dropUsage removes cobra's usage blocks (Usage:, Examples:, Flags: and
// their indented lines).
func dropUsage(lines []string) []string {
	var out []string
	inUsage := false
	for _, l := range lines {
		switch {
		case l == "Usage:" || l == "Examples:" || l == "Flags:" || l == "Global Flags:":
			inUsage = true
			continue
		case inUsage && (l == "" || strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t") || strings.HasSuffix(l, "[flags]")):
			continue
		}
		inUsage = false
		out = append(out, l)
	}
	return out
}
