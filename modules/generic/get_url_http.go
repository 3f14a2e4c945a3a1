package generic

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"net/http"
	"path"
	"strings"

	"github.com/gpuctl/gpuctl/modules"
)

// checksum is get_url's ALGO:VALUE, where VALUE may be the URL of a
// checksums file (resolved before the first comparison).
type checksum struct {
	algo, value, url string
}

var hashes = map[string]func() hash.Hash{
	"md5": md5.New, "sha1": sha1.New, "sha224": sha256.New224, "sha256": sha256.New,
	"sha384": sha512.New384, "sha512": sha512.New,
}

func parseChecksum(s string) (checksum, error) {
	algo, v, ok := strings.Cut(s, ":")
	algo = strings.ToLower(strings.TrimSpace(algo))
	if _, known := hashes[algo]; !ok || !known || v == "" {
		return checksum{}, fmt.Errorf("checksum %q: expected ALGO:VALUE with ALGO one of md5, sha1, sha224, sha256, sha384, sha512", s)
	}
	if strings.HasPrefix(v, "http://") || strings.HasPrefix(v, "https://") {
		return checksum{algo: algo, url: v}, nil
	}
	v = strings.ToLower(strings.TrimSpace(v))
	if _, err := hex.DecodeString(v); err != nil || len(v) != 2*hashes[algo]().Size() {
		return checksum{}, fmt.Errorf("checksum %q: not a %s in hex", s, algo)
	}
	return checksum{algo: algo, value: v}, nil
}

func (c checksum) describe() string {
	if c.algo == "" {
		return ""
	}
	return " (" + c.algo + ":" + c.value + ")"
}

func hexSum(algo string, b []byte) string {
	h := hashes[algo]()
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

// client makes HTTP requests from the host: every TCP connection is
// dialled through the host's connection.
func (m *GetURL) client(h modules.Host) *http.Client {
	return &http.Client{Timeout: m.Timeout, Transport: hostTransport(h, m.ValidateCerts)}
}

// hostTransport dials every TCP connection through the host's connection
// (SSH direct-tcpip), so a request leaves from the host's network as
// Ansible's modules' requests do, and needs no curl or wget there.
func hostTransport(h modules.Host, validateCerts bool) *http.Transport {
	return &http.Transport{
		DialContext:     h.Conn().Dial,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: !validateCerts}, //nolint:gosec // the user's validate_certs: false
	}
}

// get fetches url and returns its body and the response.
func (m *GetURL) get(ctx context.Context, cl *http.Client, url string) ([]byte, *http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("get %s: %w", url, err)
	}
	req.Header.Set("User-Agent", m.HTTPAgent)
	for k, v := range m.Headers {
		req.Header.Set(k, v)
	}
	if m.URLUsername != "" {
		req.SetBasicAuth(m.URLUsername, m.URLPassword)
	}
	resp, err := cl.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("get %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, resp, fmt.Errorf("get %s: HTTP Error %d: %s", url, resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, resp, fmt.Errorf("get %s: %w", url, err)
	}
	return body, resp, nil
}

// download fetches url, checks it against checksum and, for a directory
// dest, names the file.
func (m *GetURL) download(ctx context.Context, cl *http.Client, named bool) ([]byte, string, error) {
	if err := m.resolveSum(ctx, cl); err != nil {
		return nil, "", err
	}
	body, resp, err := m.get(ctx, cl, m.URL)
	if err != nil {
		return nil, "", err
	}
	dest := m.Dest
	if named {
		dest = destIn(m.Dest, resp.Header.Get("Content-Disposition"), resp.Request.URL.String())
	}
	if m.sum.algo != "" {
		if got := hexSum(m.sum.algo, body); got != m.sum.value {
			return nil, "", fmt.Errorf("the checksum of %s did not match %s: it was %s", m.URL, m.sum.value, got)
		}
	}
	if m.result != nil {
		m.result["status_code"] = resp.StatusCode
	}
	return body, dest, nil
}

// resolveSum reads a checksums file ("HEX  NAME" lines, or one bare HEX)
// and keeps the line of the URL's file name.
func (m *GetURL) resolveSum(ctx context.Context, cl *http.Client) error {
	if m.sum.url == "" || m.sum.value != "" {
		return nil
	}
	body, _, err := m.get(ctx, cl, m.sum.url)
	if err != nil {
		return fmt.Errorf("checksum file: %w", err)
	}
	name := path.Base(strings.SplitN(m.URL, "?", 2)[0])
	var lines [][]string
	for _, l := range strings.Split(string(body), "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			lines = append(lines, f)
		}
	}
	for _, f := range lines {
		if len(f) == 1 && len(lines) == 1 {
			m.sum.value = strings.ToLower(f[0])
		}
		if len(f) >= 2 && path.Base(strings.TrimPrefix(f[1], "*")) == name {
			m.sum.value = strings.ToLower(f[0])
		}
	}
	if m.sum.value == "" {
		return fmt.Errorf("checksum file %s has no line for %s", m.sum.url, name)
	}
	return nil
}
