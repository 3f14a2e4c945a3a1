package node

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/gpuctl/gpuctl/conn"
)

// hostGetTimeout bounds one download: dialling, TLS, headers and body.
const hostGetTimeout = 2 * time.Minute

// hostGetLimit bounds what is read: keys and API answers are small.
const hostGetLimit = 16 << 20

// hostGet fetches url from the host, as Ansible's modules fetch on the
// host: every TCP connection is dialled through the host's connection
// (SSH direct-tcpip), as get_url and unarchive do, so the request leaves
// from the host's network and DNS and needs no curl or wget there.
// Certificates are verified. A status other than 200 is an error naming it.
func hostGet(ctx context.Context, c conn.Conn, url string, header map[string]string) ([]byte, error) {
	tr := &http.Transport{DialContext: c.Dial, TLSHandshakeTimeout: hostGetTimeout, ResponseHeaderTimeout: hostGetTimeout}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, hostGetTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", url, err)
	}
	req.Header.Set("User-Agent", "ansible-httpget")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("get %s: HTTP Error %d: %s", url, resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, hostGetLimit+1))
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", url, err)
	}
	if len(body) > hostGetLimit {
		return nil, fmt.Errorf("get %s: larger than %d MiB", url, hostGetLimit>>20)
	}
	return body, nil
}
