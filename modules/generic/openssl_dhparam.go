package generic

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/internal/fileplan"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:    "openssl_dhparam",
		Summary: "Make Diffie-Hellman parameters with openssl dhparam on the host (community.crypto.openssl_dhparam)",
		CheckMode: "Runs openssl dhparam -check -text -noout on the file and reports parameters that would be made " +
			"(missing, unreadable, of another size, or force) and mode or owner changes. Changes nothing.",
		Example: `- name: DH parameters for nginx, as dev-sec's nginx_hardening makes them
  community.crypto.openssl_dhparam:
    path: /etc/nginx/dh_param.pem
    size: 2048
    mode: "0640"`,
		New: func() modules.Module { return &OpenSSLDHParam{} },
	})
}

// OpenSSLDHParam is community.crypto.openssl_dhparam with its openssl
// backend: openssl dhparam makes the parameters on the host, and an
// existing file is kept when `openssl dhparam -check -text` reads it as
// parameters of the size asked, without a WARNING, as the collection's
// DHParameterOpenSSL decides.
type OpenSSLDHParam struct {
	Path          string `yaml:"path" required:"true" doc:"the file the parameters are written to (PEM)"`
	State         string `yaml:"state" default:"present" choices:"present,absent" doc:"absent removes the file"`
	Size          int    `yaml:"size" default:"4096" doc:"bits of the prime; an existing file of another size is replaced"`
	Force         bool   `yaml:"force" doc:"make new parameters on every run"`
	Backup        bool   `yaml:"backup" doc:"keep a timestamped copy of a file that is replaced or removed (backup_file)"`
	ReturnContent bool   `yaml:"return_content" doc:"return the file's PEM as dhparams"`
	Backend       string `yaml:"select_crypto_backend" default:"auto" choices:"auto,cryptography,openssl" doc:"auto and openssl: the openssl command on the host; cryptography (the Python library) is not supported"`
	Attrs         `yaml:",squash"`

	result map[string]any
}

// dhparamPlan is what Check decided Apply does.
type dhparamPlan struct {
	generate, remove bool
	fix              attrFix // mode/owner of a file that is kept
}

// dhState is what the host says of the parameters file.
type dhState struct {
	exists, dir bool
	bits        int  // from openssl dhparam -text, 0 when it did not read the file
	warning     bool // openssl's output holds "WARNING"
	content     string
}

func (m *OpenSSLDHParam) Validate() error {
	switch {
	case !path.IsAbs(m.Path):
		return fmt.Errorf("path %q must be absolute", m.Path)
	case m.Size < 1:
		return fmt.Errorf("size %d must be a positive number of bits", m.Size)
	case m.Backend == "cryptography":
		return errors.New("select_crypto_backend: cryptography needs the Python cryptography library, which gpuctl does not use; " +
			"gpuctl runs openssl dhparam on the host (select_crypto_backend: openssl, which auto picks where cryptography is missing)")
	}
	return m.Attrs.validate()
}

func (m *OpenSSLDHParam) Result() map[string]any { return m.result }

// dhparamBits matches the collection's regex over openssl's -text output,
// "DH Parameters: (2048 bit)".
var dhparamBits = regexp.MustCompile(`Parameters:\s+\((\d+) bit\).*`)

// parseDHParamCheck reads `openssl dhparam -check -text -noout` output
// (stdout and stderr together) as the collection does: the size, and
// whether openssl warned. bits is 0 when the output has no size.
func parseDHParamCheck(out string) (bits int, warning bool) {
	if mm := dhparamBits.FindStringSubmatch(out); mm != nil {
		bits, _ = strconv.Atoi(mm[1])
	}
	return bits, strings.Contains(out, "WARNING")
}

// read looks at the file with one command: whether it is there, what
// openssl dhparam -check says of it and, for return_content, its text.
func (m *OpenSSLDHParam) read(ctx context.Context, c conn.Conn, content bool) (dhState, error) {
	var s dhState
	script := `f=` + conn.Quote(m.Path) + "\n" + fileProbe + `
echo FILE
command -v openssl >/dev/null || { echo NOOPENSSL; exit 0; }
out=$(openssl dhparam -check -text -noout -in "$f" 2>&1) && echo "$out" | grep -E 'Parameters:|WARNING' || true`
	if content {
		script += "\necho @@CONTENT; base64 -w0 -- \"$f\""
	}
	out, err := conn.Output(ctx, c, script)
	if err != nil {
		return s, fmt.Errorf("read %s: %w", m.Path, err)
	}
	first, rest, _ := strings.Cut(out, "\n")
	switch first {
	case "DIR":
		s.dir = true
		return s, nil
	case "NODIR":
		return s, fmt.Errorf("The directory '%s' does not exist or the file is not a directory", path.Dir(m.Path))
	case "NONE":
		return s, nil
	}
	s.exists = true
	check, text, _ := strings.Cut(rest, "@@CONTENT")
	if strings.HasPrefix(check, "NOOPENSSL") {
		return s, errors.New("Cannot detect either the required Python library cryptography (>= 2.0) or the OpenSSL binary openssl")
	}
	s.bits, s.warning = parseDHParamCheck(check)
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(text))
	if err != nil {
		return s, fmt.Errorf("read %s: %w", m.Path, err)
	}
	s.content = string(b)
	return s, nil
}

func (m *OpenSSLDHParam) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	var d plan.Diff
	s, err := m.read(ctx, h.Conn(), m.ReturnContent)
	if err != nil {
		return d, err
	}
	m.setResult(s, "")
	res := "file:" + m.Path
	if s.dir {
		return d, fmt.Errorf("%s is a directory", m.Path)
	}
	if m.State == "absent" {
		if s.exists {
			d.Add(plan.Change{Resource: res, Action: plan.Delete, Field: "DH parameters", Before: describeDH(s)})
		}
		d.State = &dhparamPlan{remove: s.exists}
		return d, nil
	}
	valid := s.exists && s.bits == m.Size && !s.warning
	if m.Force || !valid {
		act := plan.Create
		if s.exists {
			act = plan.Replace
		}
		d.Add(plan.Change{Resource: res, Action: act, Field: "DH parameters", Before: describeDH(s), After: fmt.Sprintf("%d bit", m.Size)})
		if m.Mode != "" || m.Owner != "" || m.Group != "" {
			d.Add(plan.Change{Resource: res, Action: plan.Update, Field: "mode/owner/group",
				After: strings.TrimSpace(fmt.Sprintf("mode=%s owner=%s group=%s", m.Mode, m.Owner, m.Group))})
		}
		d.State = &dhparamPlan{generate: true}
		return d, nil
	}
	p := &dhparamPlan{}
	fi, ok, err := stat(ctx, h, m.Path)
	if err != nil {
		return d, err
	}
	if ok {
		if p.fix, err = diffAttrs(ctx, h, fi, m.Attrs, res, &d); err != nil {
			return d, err
		}
	}
	d.State = p
	return d, nil
}

func describeDH(s dhState) string {
	switch {
	case !s.exists:
		return ""
	case s.bits == 0:
		return "not DH parameters"
	case s.warning:
		return fmt.Sprintf("%d bit (openssl warns)", s.bits)
	}
	return fmt.Sprintf("%d bit", s.bits)
}

func (m *OpenSSLDHParam) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	todo, err := modules.StateOf[*dhparamPlan](h, "openssl_dhparam", d)
	if err != nil {
		return err
	}
	c := h.Conn()
	p := conn.Quote(m.Path)
	backup := ""
	switch {
	case todo.remove:
		if m.Backup {
			if backup, err = fileplan.Backup(ctx, c, m.Path); err != nil {
				return err
			}
		}
		if _, err := conn.Output(ctx, c, "rm -f -- "+p); err != nil {
			return fmt.Errorf("remove %s: %w", m.Path, err)
		}
	case todo.generate:
		if m.Backup {
			if backup, err = backupExisting(ctx, h, m.Path); err != nil {
				return err
			}
		}
		// openssl writes into a fresh directory beside the file, which is
		// renamed into place: never half-written. As Ansible's atomic_move,
		// a replaced file keeps its mode and owner, a new one gets 0666
		// less the umask.
		script := `set -e
f=` + p + `
d=$(mktemp -d "$(dirname -- "$f")/.gpuctl-dhparam.XXXXXX")
trap 'rm -rf -- "$d"' EXIT
openssl dhparam -out "$d/dh" ` + strconv.Itoa(m.Size) + ` 2>"$d/err" || { cat "$d/err" >&2; exit 1; }
if [ -e "$f" ]; then chown --reference="$f" "$d/dh"; chmod --reference="$f" "$d/dh"
else chmod "$(printf %o $((0666 & ~0$(umask))))" "$d/dh"; fi
mv -f -- "$d/dh" "$f"`
		if _, err := conn.Output(ctx, c, script); err != nil {
			return fmt.Errorf("openssl dhparam %s: %w", m.Path, err)
		}
		if todo.fix, err = attrsAfterWrite(ctx, h, m.Path, m.Attrs); err != nil {
			return err
		}
		fallthrough
	default:
		if err := applyAttrs(ctx, h, m.Path, todo.fix); err != nil {
			return err
		}
	}
	s, err := m.read(ctx, c, m.ReturnContent)
	if err != nil {
		return err
	}
	m.setResult(s, backup)
	return nil
}

// setResult is the collection's dump(): size and filename as asked, the
// backup made, and the file's text (None when there is none).
func (m *OpenSSLDHParam) setResult(s dhState, backup string) {
	m.result = map[string]any{"size": m.Size, "filename": m.Path}
	if backup != "" {
		m.result["backup_file"] = backup
	}
	if m.ReturnContent {
		m.result["dhparams"] = nil
		if s.exists && s.content != "" {
			m.result["dhparams"] = s.content
		}
	}
}

var (
	_ modules.Module   = (*OpenSSLDHParam)(nil)
	_ modules.Resulter = (*OpenSSLDHParam)(nil)
)
