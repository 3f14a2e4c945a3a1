package generic_test

import (
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/modules/moduletest"
	"github.com/gpuctl/gpuctl/plan"
)

// A server on this machine's loopback, which the container hosts share:
// the request is dialled from the host, through its SSH connection.
func TestGetURLHost(t *testing.T) {
	body := "release 1.0\n"
	sum := fmt.Sprintf("%x", sha256.Sum256([]byte(body)))
	var hits int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/rel.tar.gz":
			hits++
			if r.Header.Get("X-Token") != "t1" {
				http.Error(w, "no token", http.StatusForbidden)
				return
			}
			w.Header().Set("Content-Disposition", `attachment; filename="named.tar.gz"`)
			fmt.Fprint(w, body)
		case "/SHA256SUMS":
			fmt.Fprintf(w, "%x  other.tar.gz\n%s  rel.tar.gz\n", sha256.Sum256([]byte("x")), sum)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	r := moduletest.Start(t, 1)[0]
	hdr := map[string]any{"X-Token": "t1"}

	t.Run("file with checksum URL", func(t *testing.T) {
		args := map[string]any{"url": srv.URL + "/rel.tar.gz", "dest": "/opt/rel.tar.gz", "headers": hdr,
			"checksum": "sha256:" + srv.URL + "/SHA256SUMS", "mode": "0640", "owner": "nobody"}
		d := r.Timeline(t, "ansible.builtin.get_url", args)
		hasChange(t, d, plan.Create, "content")
		if got := r.Run(t, "cat /opt/rel.tar.gz; stat -c '%a %U' /opt/rel.tar.gz"); got != "release 1.0\n640 nobody" {
			t.Errorf("host: %q", got)
		}
		res := r.NoChange(t, "get_url", args)
		if res["checksum_dest"] != sum || res["dest"] != "/opt/rel.tar.gz" {
			t.Errorf("result %v", res)
		}
	})
	t.Run("changed file with pinned checksum", func(t *testing.T) {
		r.Run(t, "echo tampered > /opt/rel.tar.gz")
		d := r.Timeline(t, "get_url", map[string]any{"url": srv.URL + "/rel.tar.gz", "dest": "/opt/rel.tar.gz", "headers": hdr, "checksum": "sha256:" + sum})
		hasChange(t, d, plan.Update, "content")
	})
	t.Run("directory dest, name from the server, force", func(t *testing.T) {
		args := map[string]any{"url": srv.URL + "/rel.tar.gz", "dest": "/opt/", "headers": hdr, "force": true}
		r.Timeline(t, "get_url", args)
		if got := r.Run(t, "cat /opt/named.tar.gz"); got != "release 1.0" {
			t.Errorf("host: %q", got)
		}
	})
	t.Run("exists, no force: no download", func(t *testing.T) {
		before := hits
		r.NoChange(t, "get_url", map[string]any{"url": srv.URL + "/rel.tar.gz", "dest": "/opt/rel.tar.gz"})
		if hits != before {
			t.Errorf("downloaded %d times", hits-before)
		}
	})
	t.Run("errors", func(t *testing.T) {
		for args, want := range map[string]map[string]any{
			"HTTP Error 403": {"url": srv.URL + "/rel.tar.gz", "dest": "/opt/x", "force": true},
			"did not match":  {"url": srv.URL + "/rel.tar.gz", "dest": "/opt/y", "headers": hdr, "checksum": "sha256:" + strings.Repeat("0", 64)},
			"HTTP Error 404": {"url": srv.URL + "/nope", "dest": "/opt/", "headers": hdr},
		} {
			if _, _, err := r.Apply(t, "get_url", want); err == nil || !strings.Contains(err.Error(), args) {
				t.Errorf("%v: %v, want %q", want, err, args)
			}
		}
		if got := r.Run(t, "ls /opt/x /opt/y 2>&1 | grep -c 'No such' || true"); got != "2" {
			t.Errorf("failed downloads left files: %s", got)
		}
	})
}

func TestGetURLBadArgs(t *testing.T) {
	moduletest.BadArgs(t, "get_url", map[string]any{"url": "http://x/a"}, `missing required argument "dest"`)
	moduletest.BadArgs(t, "get_url", map[string]any{"url": "ftp://x/a", "dest": "/a"}, "only http:// and https://")
	moduletest.BadArgs(t, "get_url", map[string]any{"url": "http://x/a", "dest": "a"}, "must be an absolute path")
	moduletest.BadArgs(t, "get_url", map[string]any{"url": "http://x/a", "dest": "/a", "checksum": "crc32:abcd"}, "expected ALGO:VALUE")
	moduletest.BadArgs(t, "get_url", map[string]any{"url": "http://x/a", "dest": "/a", "checksum": "sha256:abcd"}, "not a sha256 in hex")
	moduletest.BadArgs(t, "get_url", map[string]any{"url": "http://x/a", "dest": "/a", "mode": "0999"}, "neither octal nor symbolic")
}
