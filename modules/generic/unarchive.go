package generic

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:    "unarchive",
		Summary: "Unpack a tar (plain, gz, bz2, xz, zst) or zip archive from the controller, the host or a URL the host downloads into a directory (ansible.builtin.unarchive)",
		CheckMode: "A tar is compared with dest by the host's `tar --diff`, as Ansible does; a zip from the controller is read " +
			"by gpuctl itself and each member compared over SFTP (type, sha256 of the contents, mode, mtime, owner), so the host needs " +
			"no unzip (Ansible's needs unzip and zipinfo there); a zip on the host (remote_src) is compared with the host's " +
			"unzip. A URL (with remote_src, as Ansible wants it) is downloaded from the host into gpuctl's memory, in check mode too " +
			"(Ansible's module downloads it to compare as well), and handled as a controller archive. Each member that is missing " +
			"or differs is reported. Changes nothing; a controller or downloaded archive is never left " +
			"on the host. Zip members that would land outside dest (absolute, .., under the archive's own symlink) are refused.",
		Example: `- name: The CNI plugins
  ansible.builtin.unarchive:
    src: cni-plugins-linux-amd64-v1.5.1.tgz
    dest: /opt/cni/bin
    creates: /opt/cni/bin/bridge`,
		New: func() modules.Module { return &Unarchive{} },
	})
}

// Unarchive is ansible.builtin.unarchive. Tar archives are decided and
// extracted by GNU tar on the host as Ansible's TgzArchive does; a
// controller archive goes to tar's standard input, so no copy is left on
// the host. Zip archives: see unarchive_zip.go (controller) and
// unarchive_unzip.go (remote_src).
type Unarchive struct {
	Src       string   `yaml:"src" required:"true" doc:"the archive: on the controller (searched under files/ as copy does), or on the host with remote_src"`
	Dest      string   `yaml:"dest" required:"true" doc:"an existing directory to unpack into"`
	RemoteSrc bool     `yaml:"remote_src" doc:"src is a path on the host, or an http(s) URL the host downloads"`
	Copy      *bool    `yaml:"copy" doc:"Ansible's older spelling: copy: false means remote_src: true"`
	Creates   string   `yaml:"creates" doc:"skip when this path exists on the host"`
	ExtraOpts []string `yaml:"extra_opts" doc:"more tar options, such as --strip-components=1 (not for zip archives)"`
	Exclude   []string `yaml:"exclude" doc:"members not to unpack (tar --exclude; fnmatch patterns for a zip)"`
	Include   []string `yaml:"include" doc:"unpack only these members (fnmatch patterns for a zip)"`
	KeepNewer bool     `yaml:"keep_newer" doc:"do not replace files newer than the archive's (tar --keep-newer-files; for a controller zip, by mtime)"`
	ListFiles bool     `yaml:"list_files" doc:"register the archive's members as files"`
	Owner     string   `yaml:"owner" doc:"owner of the unpacked files (tar --owner, as root; set on each zip member)"`
	Group     string   `yaml:"group" doc:"group of the unpacked files (tar --group, as root; set on each zip member)"`
	Mode      Mode     `yaml:"mode" doc:"mode of every unpacked member and its top folder, octal or symbolic (\"0755\", \"u+x\"), as Ansible sets it"`
	// ValidateCerts is the module's own argument in Ansible, read by fetch_url.
	ValidateCerts bool `yaml:"validate_certs" default:"true" doc:"verify the TLS certificate of an https src"`

	local  string
	data   []byte
	result map[string]any
}

func (m *Unarchive) Provision() {
	if m.Copy != nil && !*m.Copy {
		m.RemoteSrc = true
	}
}

func (m *Unarchive) Validate() error {
	if m.isURL() {
		if err := m.validateURL(); err != nil {
			return err
		}
	}
	if err := absPath("dest", m.Dest); err != nil {
		return err
	}
	if m.onHost() {
		if err := absPath("src", m.Src); err != nil {
			return err
		}
	}
	if m.Creates != "" {
		if err := absPath("creates", m.Creates); err != nil {
			return err
		}
	}
	if err := m.Mode.Validate(); err != nil {
		return err
	}
	if len(m.ExtraOpts) > 0 && strings.HasSuffix(strings.ToLower(m.Src), ".zip") {
		return fmt.Errorf("extra_opts %q: tar options, and src %s is a zip (use include/exclude)", m.ExtraOpts, m.Src)
	}
	for _, o := range m.ExtraOpts {
		if !strings.HasPrefix(o, "-") {
			return fmt.Errorf("extra_opts %q: expected tar options such as --strip-components=1", o)
		}
	}
	return nil
}

func (m *Unarchive) Reads() []string {
	out := []string{m.Dest}
	if m.onHost() {
		out = append(out, m.Src)
	}
	if m.Creates != "" {
		out = append(out, m.Creates)
	}
	return out
}

func (m *Unarchive) Result() map[string]any { return m.result }

// tar builds a tar command line for the archive: -f - (stdin) for a
// controller or downloaded archive.
func (m *Unarchive) tar(action string) string {
	args := []string{"tar", action, "-C", m.Dest}
	if len(m.ExtraOpts) > 0 {
		args = append(append(args, "--show-transformed-names"), m.ExtraOpts...)
	}
	if m.Owner != "" {
		args = append(args, "--owner="+m.Owner)
	}
	if m.Group != "" {
		args = append(args, "--group="+m.Group)
	}
	if m.KeepNewer {
		args = append(args, "--keep-newer-files")
	}
	for _, e := range m.Exclude {
		args = append(args, "--exclude="+e)
	}
	src := "-"
	if m.onHost() {
		src = m.Src // GNU tar detects the compression of a file itself
	} else if f := m.zipflag(); f != "" {
		args = append(args, f)
	}
	return "LC_ALL=C " + conn.Join(append(append(args, "-f", src), m.Include...)...)
}

// zipflag names the compression of a controller archive, which tar
// cannot detect on its standard input; m.result's handler is Ansible's
// class for it.
func (m *Unarchive) zipflag() string {
	for _, c := range []struct {
		magic, flag, handler string
	}{{"\x1f\x8b", "-z", "TgzArchive"}, {"BZh", "-j", "TarBzipArchive"}, {"\xfd7zXZ\x00", "-J", "TarXzArchive"}, {"\x28\xb5\x2f\xfd", "--zstd", "TarZstdArchive"}} {
		if bytes.HasPrefix(m.data, []byte(c.magic)) {
			if m.result != nil {
				m.result["handler"] = c.handler
			}
			return c.flag
		}
	}
	if m.result != nil {
		m.result["handler"] = "TarArchive"
	}
	return ""
}

func (m *Unarchive) run(ctx context.Context, h modules.Host, cmd string) (conn.Result, error) {
	var opts []conn.ExecOption
	if !m.onHost() {
		opts = append(opts, conn.Stdin(bytes.NewReader(m.data)))
	}
	return h.Conn().Run(ctx, cmd, opts...)
}

// What tar --diff says that Ansible counts as a difference.
var tarDiffLine = regexp.MustCompile(`^(.*): (Uid differs|Gid differs|Mode differs|Mod time differs|Warning: Cannot stat: No such file or directory|Invalid owner|Invalid group|Contents differ|Size differs|File type differs|Symlink differs)$`)

func (m *Unarchive) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	if err := expandHome(ctx, h, &m.Dest, &m.Creates, remoteSrc(m.onHost(), &m.Src)); err != nil {
		return plan.Diff{}, err
	}
	var d plan.Diff
	m.result = map[string]any{"dest": m.Dest, "src": m.Src, "handler": "TgzArchive"}
	if m.Creates != "" {
		ok, err := exists(ctx, h, m.Creates)
		if err != nil || ok {
			m.result["msg"] = fmt.Sprintf("skipped, since %s exists", m.Creates)
			return d, err
		}
	}
	if fi, ok, err := stat(ctx, h, m.Dest); err != nil {
		return d, err
	} else if !ok || !fi.IsDir() {
		return d, modules.NotYet("unarchive: dest %s must be an existing directory", m.Dest)
	}
	if err := m.load(ctx, h); err != nil {
		return d, err
	}
	if isZip(m.data) {
		return m.checkZip(ctx, h)
	}
	if m.onHost() {
		if z, err := m.remoteIsZip(ctx, h); err != nil || z {
			if err != nil {
				return d, err
			}
			return m.checkUnzip(ctx, h)
		}
	}
	if m.ListFiles {
		r, err := m.run(ctx, h, m.tar("--list"))
		if err != nil || r.ExitCode != 0 {
			return d, errors.Join(err, fmt.Errorf("unarchive: %s is not an archive tar can read: %s", m.Src, strings.TrimSpace(r.Stderr)))
		}
		m.result["files"] = strings.Split(strings.TrimRight(r.Stdout, "\n"), "\n")
	}
	r, err := m.run(ctx, h, m.tar("--diff"))
	if err != nil {
		return d, fmt.Errorf("unarchive: %w", err)
	}
	if r.ExitCode > 1 {
		return d, fmt.Errorf("unarchive: %s is not an archive tar can read: %s", m.Src, strings.TrimSpace(r.Stderr))
	}
	seen := map[string]bool{}
	for _, l := range lines(r.Stdout + "\n" + r.Stderr) {
		mm := tarDiffLine.FindStringSubmatch(strings.TrimPrefix(l, "tar: "))
		if mm == nil || mm[1] == "" || seen[mm[1]] {
			continue
		}
		if m.Mode != "" && mm[2] == "Mode differs" {
			continue // mode is set below, not taken from the archive
		}
		seen[mm[1]] = true
		act, why := plan.Update, mm[2]
		if strings.HasPrefix(why, "Warning: Cannot stat") {
			act, why = plan.Create, "missing"
		}
		d.Add(plan.Change{Resource: "file:" + path.Join(m.Dest, mm[1]), Action: act, Field: "unarchived", Before: why, After: "from " + path.Base(m.Src)})
	}
	if m.Mode != "" {
		members, err := m.members(ctx, h)
		if err != nil {
			return d, err
		}
		changes, err := m.modeChanges(ctx, h, members)
		if err != nil {
			return d, err
		}
		for _, c := range changes {
			d.Add(c)
		}
	}
	return d, nil
}

// load reads a controller archive into memory for tar's stdin, or
// downloads a URL from the host (once: Check's download serves Apply).
func (m *Unarchive) load(ctx context.Context, h modules.Host) error {
	if m.onHost() {
		if _, ok, err := stat(ctx, h, m.Src); err != nil || !ok {
			return errors.Join(err, modules.NotYet("unarchive: src %s does not exist on the host", m.Src))
		}
		return nil
	}
	if m.data != nil {
		return nil
	}
	if m.isURL() {
		return m.fetch(ctx, h)
	}
	p, _, err := findLocal(ctx, h, "files", m.Src, false)
	if err != nil {
		return err
	}
	m.local = p
	if m.data, err = h.Local().ReadFile(ctx, p); err != nil {
		return fmt.Errorf("read src %s on the controller: %w", p, err)
	}
	return nil
}

func (m *Unarchive) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	if d.Empty() {
		return nil
	}
	switch st := d.State.(type) {
	case *zipPlan:
		return st.apply(ctx, h, m)
	case *unzipPlan:
		return st.apply(ctx, h, m)
	}
	if err := m.load(ctx, h); err != nil {
		return err
	}
	if err := m.extract(ctx, h, d); err != nil {
		return err
	}
	if m.Mode != "" {
		return m.applyMode(ctx, h)
	}
	return nil
}

// extract unpacks the archive unless only modes differ.
func (m *Unarchive) extract(ctx context.Context, h modules.Host, d plan.Diff) error {
	if !slices.ContainsFunc(d.Changes, func(c plan.Change) bool { return c.Field == "unarchived" }) {
		return nil
	}
	cmd := m.tar("--extract")
	r, err := m.run(ctx, h, cmd)
	if err != nil {
		return fmt.Errorf("unarchive: %w", err)
	}
	m.result["extract_results"] = map[string]any{"cmd": cmd, "rc": r.ExitCode, "out": r.Stdout, "err": r.Stderr}
	if r.ExitCode != 0 {
		return fmt.Errorf("unarchive: %w", &conn.ExitError{Cmd: cmd, Result: r})
	}
	return nil
}

var (
	_ modules.Module      = (*Unarchive)(nil)
	_ modules.Provisioner = (*Unarchive)(nil)
	_ modules.Resulter    = (*Unarchive)(nil)
	_ modules.Reader      = (*Unarchive)(nil)
)
