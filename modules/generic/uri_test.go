package generic_test

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gpuctl/gpuctl/modules/generic"
	"github.com/gpuctl/gpuctl/modules/moduletest"
)

// uri from a real host to a server on this machine (the test hosts share
// its network): read-only GETs, a POST, a download to dest, a wrong status.
func TestURIHost(t *testing.T) {
	var mu sync.Mutex
	var posted, ctype string
	mux := http.NewServeMux()
	mux.HandleFunc("/api", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Request-Id", "42")
		io.WriteString(w, `{"ready": true, "nodes": [1, 2]}`)
	})
	mux.HandleFunc("/post", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		posted, ctype = r.Method+" "+string(b), r.Header.Get("Content-Type")
		mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	})
	mux.HandleFunc("/file", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "payload\n") })
	mux.HandleFunc("/old", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/file", http.StatusFound) })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	base := srv.URL

	r := moduletest.Start(t, 1)[0]
	res := r.NoChange(t, "ansible.builtin.uri", map[string]any{"url": base + "/api"})
	if res["status"] != 200 || res["x_request_id"] != "42" || res["json"].(map[string]any)["ready"] != true || res["redirected"] != false {
		t.Errorf("GET: %v", res)
	}
	res = r.NoChange(t, "uri", map[string]any{"url": base + "/old", "return_content": true})
	if res["content"] != "payload\n" || res["redirected"] != true || res["url"] != base+"/file" {
		t.Errorf("redirect: %v", res)
	}
	_, res, err = r.Apply(t, "uri", map[string]any{"url": base + "/nothing"})
	var ue *generic.URIError
	if !errors.As(err, &ue) || res["status"] != 404 || !strings.Contains(err.Error(), "Status code was 404 and not [200]") {
		t.Errorf("404: %v %v", err, res)
	}
	d, res, err := r.Apply(t, "uri", map[string]any{"url": base + "/post", "method": "POST", "body_format": "json",
		"body": map[string]any{"a": 1}, "status_code": "200,201"})
	mu.Lock()
	got, gotType := posted, ctype
	mu.Unlock()
	if err != nil || len(d.Changes) != 1 || res["status"] != 201 || got != `POST {"a":1}` || gotType != "application/json" {
		t.Errorf("POST: %v %+v %v %q %q", err, d.Changes, res, got, gotType)
	}
	r.Timeline(t, "uri", map[string]any{"url": base + "/file", "dest": "/opt/payload.txt"})
	if out := r.Run(t, "cat /opt/payload.txt"); out != "payload" {
		t.Errorf("dest %q", out)
	}
	res = r.NoChange(t, "uri", map[string]any{"url": base + "/post", "method": "POST", "creates": "/opt/payload.txt"})
	if res["stdout"] != "skipped, since '/opt/payload.txt' exists" {
		t.Errorf("creates: %v", res)
	}
}

func TestURIBadArgs(t *testing.T) {
	moduletest.BadArgs(t, "uri", map[string]any{}, `missing required argument "url"`)
	moduletest.BadArgs(t, "uri", map[string]any{"url": "ftp://x/y"}, "expected an http or https URL")
	moduletest.BadArgs(t, "uri", map[string]any{"url": "http://x", "method": "post"}, "single word in uppercase")
	moduletest.BadArgs(t, "uri", map[string]any{"url": "http://x", "status_code": "ok"}, "expected HTTP status numbers")
	moduletest.BadArgs(t, "uri", map[string]any{"url": "http://x", "body": map[string]any{"a": 1}}, "set body_format")
	moduletest.BadArgs(t, "uri", map[string]any{"url": "http://x", "dest": "out.txt"}, "must be an absolute path")
	moduletest.BadArgs(t, "uri", map[string]any{"url": "http://x", "body_format": "xml"}, "expected one of raw, json")
}
