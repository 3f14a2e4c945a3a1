package generic

import (
	"context"
	"fmt"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/internal/fileplan"
	"github.com/gpuctl/gpuctl/plan"
)

// Attrs are the ownership and permission arguments shared by every module
// that manages a file.
type Attrs struct {
	Mode    Mode   `yaml:"mode" doc:"permissions: octal string (\"0644\") or symbolic (\"u=rw,g=r,o=r\"); unset keeps an existing file's mode, new files get 0644 (directories 0755)"`
	Owner   string `yaml:"owner" doc:"user name or uid that should own the file; unset keeps the current owner"`
	Group   string `yaml:"group" doc:"group name or gid of the file; unset keeps the current group"`
	SELinux `yaml:",squash"`
}

// SELinux are Ansible's SELinux context arguments of every file module
// (file_common_args), accepted so that roles with a Red Hat branch load and
// run as they are: on a host without SELinux they change nothing, as in
// ansible-core; on one with SELinux enabled the task fails
// (modules.SELinuxLabeler).
type SELinux struct {
	SEUser  string `yaml:"seuser" doc:"SELinux user of the file's context; nothing on a host without SELinux, which gpuctl targets (a host with SELinux enabled fails the task)"`
	SERole  string `yaml:"serole" doc:"SELinux role of the file's context; as seuser"`
	SEType  string `yaml:"setype" doc:"SELinux type of the file's context; as seuser"`
	SELevel string `yaml:"selevel" doc:"SELinux level of the file's context; as seuser"`
	// UnsafeWrites lets Ansible write in place when its atomic rename fails
	// (a bind-mounted file); gpuctl always renames, so it is accepted only.
	UnsafeWrites bool `yaml:"unsafe_writes" doc:"accepted for Ansible playbooks; gpuctl always writes a temp file and renames it"`
}

// SELinuxArgs names the SELinux arguments given (modules.SELinuxLabeler).
func (s SELinux) SELinuxArgs() []string {
	var out []string
	for _, a := range []struct{ name, v string }{{"seuser", s.SEUser}, {"serole", s.SERole}, {"setype", s.SEType}, {"selevel", s.SELevel}} {
		if a.v != "" {
			out = append(out, a.name)
		}
	}
	return out
}

var _ modules.SELinuxLabeler = SELinux{}

func (a Attrs) validate() error {
	if err := a.Mode.Validate(); err != nil {
		return err
	}
	for _, s := range []string{a.Owner, a.Group} {
		if strings.ContainsAny(s, ": \t\n") {
			return fmt.Errorf("owner/group %q must be a single name or id", s)
		}
	}
	return nil
}

// plan is a in fileplan's terms; an empty mode keeps the path's.
func (a Attrs) plan() fileplan.Attrs {
	fa := fileplan.Attrs{Owner: a.Owner, Group: a.Group}
	if a.Mode != "" {
		fa.Mode = a.Mode
	}
	return fa
}

// attrFix is what has to change on an existing path's metadata.
type attrFix = fileplan.AttrFix

// stat returns the path's info and whether it exists.
func stat(ctx context.Context, h modules.Host, path string) (conn.FileInfo, bool, error) {
	return fileplan.Stat(ctx, h.Conn(), path)
}

// diffAttrs compares an existing path with a, adds the differences to d as
// changes of res, and returns what Apply has to fix.
func diffAttrs(ctx context.Context, h modules.Host, fi conn.FileInfo, a Attrs, res string, d *plan.Diff) (attrFix, error) {
	return fileplan.DiffAttrs(ctx, h.Conn(), fi, a.plan(), res, d)
}

// applyAttrs fixes metadata over the connection's file operations (SFTP),
// with chown/chmod only where they cannot; symlinks are changed
// themselves, never their targets.
func applyAttrs(ctx context.Context, h modules.Host, path string, fix attrFix) error {
	return fix.Apply(ctx, h.Conn(), path)
}

// run executes cmd and turns a non-zero exit into an error.
func run(ctx context.Context, h modules.Host, cmd string, opts ...conn.ExecOption) error {
	_, err := conn.Output(ctx, h.Conn(), cmd, opts...)
	return err
}

// PathAlias accepts the older names Ansible still takes for path, which
// many existing playbooks use (lineinfile: dest=...).
type PathAlias struct {
	Dest     string `yaml:"dest" doc:"alias of path"`
	DestFile string `yaml:"destfile" doc:"alias of path"`
	Name     string `yaml:"name" doc:"alias of path"`
}

// fill sets path from the first alias given, when path itself is not
// (Provision); check then refuses aliases that disagree with it (Validate).
func (a PathAlias) fill(p *string) {
	for _, alt := range []string{a.Dest, a.DestFile, a.Name} {
		if *p == "" {
			*p = alt
		}
	}
}

func (a PathAlias) check(p string) error {
	for _, alt := range []string{a.Dest, a.DestFile, a.Name} {
		if alt != "" && strings.TrimSuffix(alt, "/") != strings.TrimSuffix(p, "/") {
			return fmt.Errorf("path is given twice (%q and %q)", p, alt)
		}
	}
	if p == "" {
		return fmt.Errorf("missing required argument %q", "path")
	}
	return nil
}

// fileProbe is the shell that starts the reads of the openssl modules
// (community.crypto's checks, in their order), with the path in $f: it
// prints DIR for a directory, NODIR when the parent is missing, NONE when
// there is no file, and falls through otherwise.
const fileProbe = `if [ -d "$f" ]; then echo DIR; exit 0; fi
[ -d "$(dirname -- "$f")" ] || { echo NODIR; exit 0; }
[ -e "$f" ] || { echo NONE; exit 0; }`

// backupExisting backs path up (fileplan.Backup) when it exists, and
// returns the backup's path ("" when there was nothing to keep).
func backupExisting(ctx context.Context, h modules.Host, path string) (string, error) {
	if _, ok, err := stat(ctx, h, path); err != nil || !ok {
		return "", err
	}
	return fileplan.Backup(ctx, h.Conn(), path)
}

// attrsAfterWrite is what a file a module has just written still needs of
// a (mode, owner, group), for applyAttrs.
func attrsAfterWrite(ctx context.Context, h modules.Host, path string, a Attrs) (attrFix, error) {
	fi, ok, err := stat(ctx, h, path)
	if err != nil || !ok {
		return attrFix{}, fmt.Errorf("after writing %s: %v", path, err)
	}
	var d plan.Diff
	return diffAttrs(ctx, h, fi, a, "file:"+path, &d)
}
