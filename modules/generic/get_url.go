package generic

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/internal/fileplan"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:    "get_url",
		Summary: "Download a file over HTTP(S) to the host, the connection being made from the host itself",
		CheckMode: "Stats dest and, with checksum, checksums it on the host. A download that could change nothing is " +
			"skipped; with force or a directory dest the file is downloaded (from the host, into gpuctl's memory) " +
			"to compare it, and nothing is written.",
		Example: `- name: containerd release
  get_url:
    url: https://github.com/containerd/containerd/releases/download/v1.7.24/containerd-1.7.24-linux-amd64.tar.gz
    dest: /usr/local/src/
    checksum: sha256:https://github.com/containerd/containerd/releases/download/v1.7.24/containerd-1.7.24-linux-amd64.tar.gz.sha256sum
    mode: "0644"`,
		New: func() modules.Module { return &GetURL{} },
	})
}

// GetURL is Ansible's get_url. The HTTP connection is dialled through the
// host's connection (SSH direct-tcpip), so the request leaves from the host
// as in Ansible, without curl or wget on it.
type GetURL struct {
	URL            string            `yaml:"url" required:"true" doc:"http, https or ftp-less URL to fetch"`
	Dest           string            `yaml:"dest" required:"true" doc:"absolute path of the file, or of a directory to put it in (named from Content-Disposition or the URL)"`
	Checksum       string            `yaml:"checksum" doc:"ALGO:HEX or ALGO:URL-of-a-checksums-file (md5, sha1, sha224, sha256, sha384, sha512); an existing dest with this checksum is not downloaded again, a download without it fails"`
	Force          bool              `yaml:"force" aliases:"thirsty" doc:"download even when dest exists, and replace it when the contents differ"`
	Headers        map[string]string `yaml:"headers" doc:"extra HTTP request headers"`
	Timeout        time.Duration     `yaml:"timeout" default:"10s" doc:"time limit of each request (seconds or a duration)"`
	ValidateCerts  bool              `yaml:"validate_certs" default:"true" doc:"verify the server's TLS certificate"`
	URLUsername    string            `yaml:"url_username" aliases:"username" doc:"user for HTTP basic authentication"`
	URLPassword    string            `yaml:"url_password" aliases:"password" secret:"true" doc:"password for HTTP basic authentication"`
	ForceBasicAuth bool              `yaml:"force_basic_auth" doc:"send the credentials with the first request (gpuctl always does when url_username is set)"`
	HTTPAgent      string            `yaml:"http_agent" default:"ansible-httpget" doc:"User-Agent header"`
	Backup         bool              `yaml:"backup" doc:"keep a timestamped copy of dest before replacing it"`
	Attrs          `yaml:",squash"`

	sum    checksum
	result map[string]any
}

func (m *GetURL) Validate() error {
	if !strings.HasPrefix(m.URL, "http://") && !strings.HasPrefix(m.URL, "https://") {
		return fmt.Errorf("url %q: only http:// and https:// URLs are supported", m.URL)
	}
	if err := absPath("dest", m.Dest); err != nil {
		return err
	}
	if m.Checksum != "" {
		sum, err := parseChecksum(m.Checksum)
		if err != nil {
			return err
		}
		m.sum = sum
	}
	if m.Timeout <= 0 {
		return errors.New("timeout must be positive")
	}
	return m.Attrs.validate()
}

func (m *GetURL) Reads() []string { return []string{m.Dest} }

func (m *GetURL) Result() map[string]any { return m.result }

// getPlan is what Check decided: the file to write (nil: keep) and the
// metadata to fix.
type getPlan struct {
	dest   string
	body   []byte // downloaded in Check (force, directory dest), else nil
	write  bool
	exists bool
	info   conn.FileInfo
	fix    attrFix
}

func (m *GetURL) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	if err := expandHome(ctx, h, &m.Dest); err != nil {
		return plan.Diff{}, err
	}
	var d plan.Diff
	p := &getPlan{dest: m.Dest}
	fi, ok, err := stat(ctx, h, m.Dest)
	if err != nil {
		return d, err
	}
	cl := m.client(h)
	if err := m.resolveSum(ctx, cl); err != nil {
		return d, err
	}
	if ok && fi.IsDir() {
		// The name comes from the server: ask it now.
		if p.body, p.dest, err = m.download(ctx, cl, true); err != nil {
			return d, err
		}
		if fi, ok, err = stat(ctx, h, p.dest); err != nil {
			return d, err
		}
	}
	p.exists, p.info = ok, fi
	m.result = map[string]any{"url": m.URL, "dest": p.dest, "state": "file", "msg": "file already exists"}
	res := "file:" + p.dest
	if !ok {
		p.write = true
		d.Add(plan.Change{Resource: res, Action: plan.Create, Field: "content", After: "downloaded from " + m.URL + m.sum.describe()})
		d.State = p
		return d, newAttrs(m.Attrs, 0o644, false, res, &d)
	}
	if fi.IsDir() {
		return d, fmt.Errorf("%s is a directory", p.dest)
	}
	have, err := m.destSum(ctx, h, p.dest)
	if err != nil {
		return d, err
	}
	m.result["checksum_dest"] = have
	switch {
	case m.sum.algo != "" && !strings.EqualFold(have, m.sum.value):
		p.write = true
		d.Add(plan.Change{Resource: res, Action: plan.Update, Field: "content", Before: m.sum.algo + ":" + have, After: m.sum.algo + ":" + m.sum.value})
	case (m.Force || p.body != nil) && m.sum.algo == "":
		if p.body == nil {
			if p.body, _, err = m.download(ctx, cl, false); err != nil {
				return d, err
			}
		}
		if got := hexSum("sha1", p.body); got != have {
			p.write = true
			d.Add(plan.Change{Resource: res, Action: plan.Update, Field: "content", Before: "sha1:" + have, After: "sha1:" + got})
		}
	}
	if !p.write {
		if p.fix, err = diffAttrs(ctx, h, fi, m.Attrs, res, &d); err != nil {
			return d, err
		}
	}
	d.State = p
	return d, nil
}

// destSum checksums the existing file on the host, with the algorithm of
// checksum or sha1 (what Ansible reports as checksum_dest).
func (m *GetURL) destSum(ctx context.Context, h modules.Host, p string) (string, error) {
	algo := m.sum.algo
	if algo == "" {
		algo = "sha1"
	}
	out, err := conn.Output(ctx, h.Conn(), algo+"sum -- "+conn.Quote(p))
	if err != nil {
		return "", fmt.Errorf("checksum %s: %w", p, err)
	}
	sum, _, _ := strings.Cut(out, " ")
	return sum, nil
}

func (m *GetURL) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	p, err := modules.StateOf[*getPlan](h, "get_url", d)
	if err != nil {
		return err
	}
	if !p.write {
		return applyAttrs(ctx, h, p.dest, p.fix)
	}
	start := time.Now()
	body := p.body
	if body == nil {
		if body, _, err = m.download(ctx, m.client(h), false); err != nil {
			return err
		}
	}
	if m.Backup && p.exists {
		b, err := fileplan.Backup(ctx, h.Conn(), p.dest)
		if err != nil {
			return err
		}
		m.result["backup_file"] = b
	}
	base := fs.FileMode(0o644)
	if p.exists {
		base = p.info.Mode & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
	}
	mode, err := m.Mode.Apply(base, false)
	if err != nil {
		return err
	}
	if err := h.Conn().WriteFile(ctx, p.dest, body, conn.FileAttrs{Mode: mode, Owner: m.Owner, Group: m.Group}); err != nil {
		return fmt.Errorf("write %s: %w", p.dest, err)
	}
	m.result["msg"] = fmt.Sprintf("OK (%d bytes)", len(body))
	m.result["size"] = len(body)
	m.result["checksum_src"] = hexSum("sha1", body)
	m.result["elapsed"] = int(time.Since(start).Seconds())
	m.result["dest"] = p.dest
	m.result["mode"] = octal(mode)
	return nil
}

// destIn names the file for a directory dest: Content-Disposition's
// filename, else the URL's last path element.
func destIn(dir, disposition, url string) string {
	name := ""
	if _, v, ok := strings.Cut(disposition, "filename="); ok {
		name = strings.Trim(strings.TrimSpace(strings.Split(v, ";")[0]), `"`)
	}
	if name == "" {
		u := strings.SplitN(strings.SplitN(url, "?", 2)[0], "#", 2)[0]
		name = path.Base(strings.TrimSuffix(u, "/"))
	}
	if name == "" || name == "/" || name == "." || strings.Contains(name, "/") {
		name = "index.html"
	}
	return path.Join(dir, name)
}

var (
	_ modules.Module   = (*GetURL)(nil)
	_ modules.Reader   = (*GetURL)(nil)
	_ modules.Resulter = (*GetURL)(nil)
)
