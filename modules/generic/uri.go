package generic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:    "uri",
		Summary: "Make an HTTP request from the host and register the status, headers and body (ansible.builtin.uri)",
		CheckMode: "A GET or HEAD without dest is read-only: it is made under --check too, so later tasks can use what " +
			"it registers. Other methods are reported as a request that would be sent. With dest, the body is " +
			"compared with the file and the file's diff is reported.",
		Example: `- name: The API server answers
  ansible.builtin.uri:
    url: "https://{{ inventory_hostname }}:6443/readyz"
    validate_certs: false
    return_content: true
  register: ready
  until: ready.content == "ok"
  retries: 30
  delay: 5`,
		New: func() modules.Module { return &URI{} },
	})
}

// URI is ansible.builtin.uri. The connection is made from the host, through
// its SSH connection, as Ansible's module runs there.
type URI struct {
	URL             string            `yaml:"url" required:"true" doc:"the http(s) URL"`
	Method          string            `yaml:"method" default:"GET" doc:"the HTTP method, upper case"`
	Body            any               `yaml:"body" doc:"the request body; a mapping or list with body_format json or form-urlencoded is encoded"`
	BodyFormat      string            `yaml:"body_format" default:"raw" choices:"raw,json,form-urlencoded" doc:"how to encode body, and the Content-Type it sets"`
	Headers         map[string]string `yaml:"headers" doc:"request headers"`
	StatusCode      []string          `yaml:"status_code" default:"200" doc:"the statuses that mean success (a list, or comma-separated)"`
	ReturnContent   bool              `yaml:"return_content" doc:"register the body as content (a JSON body is also registered as json)"`
	Dest            string            `yaml:"dest" doc:"write the body to this file on the host"`
	Timeout         time.Duration     `yaml:"timeout" default:"30s" doc:"the request's timeout (seconds or a duration)"`
	ValidateCerts   bool              `yaml:"validate_certs" default:"true" doc:"verify the server's TLS certificate"`
	URLUsername     string            `yaml:"url_username" aliases:"user" doc:"basic-auth user"`
	URLPassword     string            `yaml:"url_password" aliases:"password" secret:"true" doc:"basic-auth password"`
	ForceBasicAuth  bool              `yaml:"force_basic_auth" doc:"send the credentials without waiting for a 401 (gpuctl always does)"`
	FollowRedirects string            `yaml:"follow_redirects" default:"safe" choices:"all,no,none,safe,urllib2,yes" doc:"safe follows redirects of GET and HEAD only"`
	Creates         string            `yaml:"creates" doc:"skip the request when this path exists on the host"`
	Removes         string            `yaml:"removes" doc:"skip the request unless this path exists on the host"`
	ClientCert      string            `yaml:"client_cert" doc:"PEM certificate (chain) on the host for TLS client authentication; it may hold the key too"`
	ClientKey       string            `yaml:"client_key" doc:"PEM private key on the host for client_cert, when client_cert does not hold it"`
	CAPath          string            `yaml:"ca_path" doc:"PEM CA certificates on the host to verify the server with, instead of the system's"`

	codes  []int
	body   []byte
	result map[string]any
}

func (m *URI) Validate() error {
	u, err := url.Parse(m.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("url %q: expected an http or https URL", m.URL)
	}
	if m.Method == "" || strings.ToUpper(m.Method) != m.Method || strings.ContainsAny(m.Method, " \t") {
		return fmt.Errorf("method %q needs to be a single word in uppercase, like GET or POST", m.Method)
	}
	m.codes = nil
	for _, s := range m.StatusCode {
		for _, c := range strings.Split(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(c))
			if err != nil || n < 100 || n > 599 {
				return fmt.Errorf("status_code %q: expected HTTP status numbers", s)
			}
			m.codes = append(m.codes, n)
		}
	}
	for _, p := range []struct{ name, v string }{{"dest", m.Dest}, {"creates", m.Creates}, {"removes", m.Removes}} {
		if p.v != "" {
			if err := absPath(p.name, p.v); err != nil {
				return err
			}
		}
	}
	if err := m.validateTLS(); err != nil { // uri_tls.go
		return err
	}
	return m.encodeBody()
}

// encodeBody is Ansible's: a string is sent as it is; a mapping or list
// is JSON or form encoded, and sets the Content-Type unless given.
func (m *URI) encodeBody() error {
	ctype := ""
	switch b := m.Body.(type) {
	case nil:
	case string:
		m.body = []byte(b)
	default:
		switch m.BodyFormat {
		case "json":
			j, err := json.Marshal(b)
			if err != nil {
				return fmt.Errorf("body: %w", err)
			}
			m.body = j
		case "form-urlencoded":
			mp, ok := b.(map[string]any)
			if !ok {
				return errors.New("body: form-urlencoded needs a mapping")
			}
			v := url.Values{}
			for k, x := range mp {
				v.Set(k, fmt.Sprint(x))
			}
			m.body = []byte(v.Encode())
		default:
			return errors.New("body is a mapping or list: set body_format to json or form-urlencoded")
		}
	}
	switch m.BodyFormat {
	case "json":
		ctype = "application/json"
	case "form-urlencoded":
		ctype = "application/x-www-form-urlencoded"
	}
	for k := range m.Headers {
		if strings.EqualFold(k, "Content-Type") {
			ctype = ""
		}
	}
	if ctype != "" {
		if m.Headers == nil {
			m.Headers = map[string]string{}
		}
		m.Headers["Content-Type"] = ctype
	}
	return nil
}

func (m *URI) readOnly() bool { return m.Method == "GET" || m.Method == "HEAD" }

func (m *URI) Unverified() bool       { return !m.readOnly() }
func (m *URI) Result() map[string]any { return m.result }

func (m *URI) Reads() []string {
	var out []string
	for _, p := range []string{m.Creates, m.Removes, m.Dest, m.ClientCert, m.ClientKey, m.CAPath} {
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

// uriPlan is what Apply does: send the request, or write the body to dest.
type uriPlan struct {
	send bool
	cp   *contentPlan
}

func (m *URI) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	d := plan.Diff{State: &uriPlan{}}
	if skip, err := m.skip(ctx, h); err != nil || skip {
		return d, err
	}
	if !m.readOnly() {
		d.State = &uriPlan{send: true}
		d.Add(plan.Change{Resource: "url:" + m.URL, Action: plan.Run, Field: "request", After: m.Method + " " + m.URL})
		return d, nil
	}
	body, err := m.do(ctx, h)
	if err != nil || m.Dest == "" {
		return d, err
	}
	cur, fi, exists, err := readFile(ctx, h, m.Dest)
	if err != nil {
		return d, err
	}
	cp, err := planContent(ctx, h, "file:"+m.Dest, m.Dest, cur, fi, exists, body, Attrs{}, &d)
	if err != nil {
		return d, err
	}
	d.State = &uriPlan{cp: cp}
	return d, nil
}

// skip is creates/removes, with Ansible's message.
func (m *URI) skip(ctx context.Context, h modules.Host) (bool, error) {
	for _, c := range []struct {
		p    string
		want bool
		msg  string
	}{{m.Creates, true, "skipped, since '%s' exists"}, {m.Removes, false, "skipped, since '%s' does not exist"}} {
		if c.p == "" {
			continue
		}
		ok, err := exists(ctx, h, c.p)
		if err != nil {
			return false, err
		}
		if ok == c.want {
			m.result = map[string]any{"stdout": fmt.Sprintf(c.msg, c.p)}
			return true, nil
		}
	}
	return false, nil
}

func (m *URI) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	if d.Empty() {
		return nil
	}
	p, err := modules.StateOf[*uriPlan](h, "uri", d)
	if err != nil {
		return err
	}
	if p.send {
		_, err := m.do(ctx, h)
		return err
	}
	if p.cp != nil {
		_, err := p.cp.apply(ctx, h, writeOpts{})
		return err
	}
	return nil
}

// do makes the request from the host and registers what Ansible does:
// status, url, redirected, msg, the response headers (lower case, '-' as
// '_'), and content/json when asked or when the status is not a success.
func (m *URI) do(ctx context.Context, h modules.Host) ([]byte, error) {
	tlsCfg, err := m.tlsConfig(ctx, h)
	if err != nil {
		return nil, fmt.Errorf("uri %s: %w", m.URL, err)
	}
	cl := &http.Client{Timeout: m.Timeout, Transport: &http.Transport{DialContext: h.Conn().Dial, TLSClientConfig: tlsCfg}}
	cl.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		switch m.FollowRedirects {
		case "no", "none":
			return http.ErrUseLastResponse
		case "safe", "urllib2":
			if req.Method != "GET" && req.Method != "HEAD" {
				return http.ErrUseLastResponse
			}
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, m.Method, m.URL, bytes.NewReader(m.body))
	if err != nil {
		return nil, fmt.Errorf("uri %s: %w", m.URL, err)
	}
	for k, v := range m.Headers {
		req.Header.Set(k, v)
	}
	if m.URLUsername != "" {
		req.SetBasicAuth(m.URLUsername, m.URLPassword)
	}
	start := time.Now()
	resp, err := cl.Do(req)
	if err != nil {
		m.result = map[string]any{"status": -1, "url": m.URL, "msg": "Status code was -1 and not " + fmt.Sprint(m.codes) + ": Request failed: " + err.Error()}
		return nil, fmt.Errorf("uri %s: %w", m.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("uri %s: read the body: %w", m.URL, err)
	}
	m.register(resp, body, start)
	if !slices.Contains(m.codes, resp.StatusCode) {
		m.result["msg"] = fmt.Sprintf("Status code was %d and not %v: HTTP Error %d: %s", resp.StatusCode, m.codes, resp.StatusCode, http.StatusText(resp.StatusCode))
		return nil, &URIError{Msg: m.result["msg"].(string), result: m.result}
	}
	return body, nil
}

func (m *URI) register(resp *http.Response, body []byte, start time.Time) {
	r := map[string]any{}
	for k, v := range resp.Header {
		r[strings.ReplaceAll(strings.ToLower(k), "-", "_")] = strings.Join(v, ", ")
	}
	final := resp.Request.URL.String()
	r["status"], r["url"], r["redirected"] = resp.StatusCode, final, final != m.URL
	r["elapsed"] = int(time.Since(start).Seconds())
	r["msg"] = fmt.Sprintf("OK (%s bytes)", r["content_length"])
	if _, ok := r["content_length"]; !ok {
		r["msg"] = "OK (unknown bytes)"
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	isJSON := strings.HasSuffix(mt, "/json") || strings.HasSuffix(mt, "+json")
	if m.ReturnContent || isJSON || !slices.Contains(m.codes, resp.StatusCode) {
		r["content"] = string(body)
	}
	if isJSON && len(body) > 0 {
		var j any
		if json.Unmarshal(body, &j) == nil {
			r["json"] = j
		}
	}
	m.result = r
}

// URIError is a response with a status not in status_code; it carries
// what `register` gets, so failed_when and ignore_errors see the status.
type URIError struct {
	Msg    string
	result map[string]any
}

func (e *URIError) Error() string          { return e.Msg }
func (e *URIError) Result() map[string]any { return e.result }

var (
	_ modules.Module     = (*URI)(nil)
	_ modules.Resulter   = (*URI)(nil)
	_ modules.Unverified = (*URI)(nil)
	_ modules.Reader     = (*URI)(nil)
)
