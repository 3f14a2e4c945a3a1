package generic

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gpuctl/gpuctl/modules"
)

// A src containing "://" with remote_src is downloaded by ansible-core's
// unarchive module on the host (module_utils.urls.fetch_file), in check mode
// too, since it needs the archive to compare it with dest. gpuctl makes the
// same request from the host (dialled through the host's connection, so it
// goes out on the host's network and sees what the host can reach) into its
// memory, then handles it as a controller archive: tar reads it on its
// standard input, a zip is compared member by member. So no copy is left on
// the host, and Check's download serves Apply.

// fetchTimeout is fetch_file's timeout, a socket timeout in Ansible: it
// bounds connecting and waiting for the response, not the whole transfer of
// a large archive (the task's timeout and Ctrl-C bound that).
const fetchTimeout = 10 * time.Second

// isURL: Ansible's own test for a download (`'://' in src`).
func (m *Unarchive) isURL() bool { return strings.Contains(m.Src, "://") }

// onHost says the archive is a file on the host: remote_src, not a URL.
func (m *Unarchive) onHost() bool { return m.RemoteSrc && !m.isURL() }

func (m *Unarchive) validateURL() error {
	if !m.RemoteSrc {
		// ansible-core's action looks for a controller file of that name and
		// fails; only its module, run with remote_src, downloads.
		return fmt.Errorf("src %q: a URL is downloaded by the host only with remote_src: true (without it Ansible looks for a file of that name on the controller)", m.Src)
	}
	u, err := url.Parse(m.Src)
	if err != nil {
		return fmt.Errorf("src %q: %w", m.Src, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("src %q: only http:// and https:// URLs are supported", m.Src)
	}
	if u.Host == "" {
		return fmt.Errorf("src %q: a URL with no host", m.Src)
	}
	return nil
}

// fetch downloads the archive from the host into m.data.
func (m *Unarchive) fetch(ctx context.Context, h modules.Host) error {
	tr := hostTransport(h, m.ValidateCerts)
	dial := tr.DialContext
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
		defer cancel()
		return dial(ctx, network, addr)
	}
	tr.TLSHandshakeTimeout, tr.ResponseHeaderTimeout = fetchTimeout, fetchTimeout
	defer tr.CloseIdleConnections()
	// get_url's request, with fetch_url's defaults: no headers nor
	// credentials (unarchive has no such arguments), Ansible's User-Agent.
	g := &GetURL{HTTPAgent: "ansible-httpget"}
	body, _, err := g.get(ctx, &http.Client{Transport: tr}, m.Src)
	if err != nil {
		return fmt.Errorf("unarchive: download on the host: %w", err)
	}
	if len(body) == 0 {
		return fmt.Errorf("unarchive: invalid archive %s, the file is 0 bytes", m.Src)
	}
	m.data = body
	return nil
}
