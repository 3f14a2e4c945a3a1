package generic_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/moduletest"
)

// archiveServer serves the tgz and zip of the other unarchive tests on this
// machine's loopback, which the nspawn test hosts share, so the host can
// reach it; hits counts the archive downloads.
func archiveServer(t *testing.T, tls bool) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	hits := new(atomic.Int32)
	tarball, zipball := tgz(t), makeZip(t, appZip)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/app.tgz":
			hits.Add(1)
			w.Write(tarball)
		case "/app.zip":
			hits.Add(1)
			w.Write(zipball)
		case "/empty.tgz":
			hits.Add(1)
		default:
			http.NotFound(w, r)
		}
	})
	srv := httptest.NewUnstartedServer(h)
	if tls {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv, hits
}

// A URL src with remote_src, as ansible-core downloads it: by the host,
// from the host's network (the request is dialled through the host's
// connection), in check mode too; check changes nothing, apply unpacks,
// and neither a re-check nor a second run changes anything.
func TestUnarchiveURLHost(t *testing.T) {
	srv, hits := archiveServer(t, false)
	r := moduletest.Start(t, 1)[0]
	r.Run(t, "mkdir -p /opt/url-tgz /opt/url-zip /opt/url-tls")

	t.Run("tgz", func(t *testing.T) {
		args := map[string]any{"src": srv.URL + "/app.tgz", "dest": "/opt/url-tgz", "remote_src": true, "extra_opts": []any{"--strip-components=1"}}
		before := hits.Load()
		if _, err := moduletest.CheckOnly(t, r.Host, "unarchive", args); err != nil {
			t.Fatal(err)
		}
		if hits.Load() == before {
			t.Errorf("check mode decided without downloading the archive (Ansible downloads it to compare)")
		}
		r.Timeline(t, "ansible.builtin.unarchive", args, "/opt/url-tgz")
		if out := r.Run(t, "/opt/url-tgz/bin/app; stat -c '%a' /opt/url-tgz/etc/app.conf; readlink /opt/url-tgz/link"); out != "app\n640\nREADME" {
			t.Errorf("host:\n%s", out)
		}
		// Nothing of the download is left on the host: it went to tar's stdin.
		if out := r.Run(t, "find /tmp /root -name '*app*.tgz*' | wc -l"); out != "0" {
			t.Errorf("the download was left on the host: %s", out)
		}
		r.Run(t, "echo changed > /opt/url-tgz/README")
		d := r.Timeline(t, "unarchive", args, "/opt/url-tgz")
		if len(d.Changes) != 1 || d.Changes[0].Resource != "file:/opt/url-tgz/README" {
			t.Errorf("changes %+v", d.Changes)
		}
	})
	t.Run("zip", func(t *testing.T) {
		args := map[string]any{"src": srv.URL + "/app.zip", "dest": "/opt/url-zip", "remote_src": true}
		r.Timeline(t, "unarchive", args, "/opt/url-zip")
		if out := r.Run(t, "cat /opt/url-zip/app-1.0/etc/app.conf"); out != "port=80" {
			t.Errorf("host: %q", out)
		}
	})
	t.Run("creates: no download", func(t *testing.T) {
		before := hits.Load()
		res := r.NoChange(t, "unarchive", map[string]any{"src": srv.URL + "/app.tgz", "dest": "/opt/url-tgz", "remote_src": true, "creates": "/opt/url-tgz/bin/app"})
		if hits.Load() != before || res["msg"] != "skipped, since /opt/url-tgz/bin/app exists" {
			t.Errorf("downloaded %d times; result %v", hits.Load()-before, res)
		}
	})
	t.Run("validate_certs", func(t *testing.T) {
		tlsSrv, _ := archiveServer(t, true)
		args := map[string]any{"src": tlsSrv.URL + "/app.tgz", "dest": "/opt/url-tls", "remote_src": true}
		if _, err := moduletest.CheckOnly(t, r.Host, "unarchive", args); err == nil || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("a self-signed server with validate_certs on: %v", err)
		}
		args["validate_certs"] = false
		r.Timeline(t, "unarchive", args, "/opt/url-tls")
	})
	t.Run("errors", func(t *testing.T) {
		for path, want := range map[string]string{
			"/nope.tgz":  "HTTP Error 404",
			"/empty.tgz": "the file is 0 bytes",
		} {
			_, err := moduletest.CheckOnly(t, r.Host, "unarchive", map[string]any{"src": srv.URL + path, "dest": "/opt/url-tgz", "remote_src": true})
			if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), srv.URL+path) {
				t.Errorf("%s: %v, want %q and the URL", path, err, want)
			}
		}
		// dest is checked before anything is downloaded, as Ansible's action does.
		before := hits.Load()
		_, _, err := r.Apply(t, "unarchive", map[string]any{"src": srv.URL + "/app.tgz", "dest": "/opt/none", "remote_src": true})
		var ny *modules.NotYetError
		if !errors.As(err, &ny) || hits.Load() != before {
			t.Errorf("missing dest: %v, %d downloads", err, hits.Load()-before)
		}
	})
}

func TestUnarchiveURLBadArgs(t *testing.T) {
	// Ansible looks for a file of that name on the controller unless remote_src is set.
	moduletest.BadArgs(t, "unarchive", map[string]any{"src": "https://x/a.tgz", "dest": "/x"}, "remote_src: true")
	moduletest.BadArgs(t, "unarchive", map[string]any{"src": "ftp://x/a.tgz", "dest": "/x", "remote_src": true}, "only http:// and https://")
	moduletest.BadArgs(t, "unarchive", map[string]any{"src": "https://", "dest": "/x", "remote_src": true}, "no host")
	moduletest.BadArgs(t, "unarchive", map[string]any{"src": "https://x/a.tgz", "dest": "x", "remote_src": true}, "must be an absolute path")
}
