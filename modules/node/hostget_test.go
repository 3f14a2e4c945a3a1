package node

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/modules/moduletest"
)

// hostGet dials through the connection (here the local one), sends
// Ansible's User-Agent and the given headers, and names a bad status.
func TestHostGet(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(r.Header.Get("User-Agent") + " " + r.Header.Get("Accept")))
	}))
	defer srv.Close()
	c := moduletest.Local().Conn()
	body, err := hostGet(context.Background(), c, srv.URL+"/api", map[string]string{"Accept": "application/json"})
	if err != nil || string(body) != "ansible-httpget application/json" {
		t.Errorf("got %q, %v", body, err)
	}
	if _, err := hostGet(context.Background(), c, srv.URL+"/missing", nil); err == nil || !strings.Contains(err.Error(), "HTTP Error 404: Not Found") || !strings.Contains(err.Error(), srv.URL+"/missing") {
		t.Errorf("404: %v", err)
	}
}
