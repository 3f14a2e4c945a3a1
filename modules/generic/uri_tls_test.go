package generic_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gpuctl/gpuctl/internal/ansibletest"
	"github.com/gpuctl/gpuctl/modules/moduletest"
)

// tlsFixture is a CA, a server certificate for 127.0.0.1 and a client
// certificate, all PEM.
type tlsFixture struct {
	caPEM, serverCert, serverKey, clientCert, clientKey, otherCA []byte
}

func newTLSFixture(t *testing.T) tlsFixture {
	t.Helper()
	ca, caKey, caPEM := makeCert(t, "test CA", nil, nil, true)
	_, _, otherCA := makeCert(t, "other CA", nil, nil, true)
	_, sKey, sPEM := makeCert(t, "127.0.0.1", ca, caKey, false)
	_, cKey, cPEM := makeCert(t, "gpuctl-client", ca, caKey, false)
	return tlsFixture{caPEM: caPEM, serverCert: sPEM, serverKey: keyPEM(t, sKey), clientCert: cPEM, clientKey: keyPEM(t, cKey), otherCA: otherCA}
}

func makeCert(t *testing.T, cn string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, isCA bool) (*x509.Certificate, *ecdsa.PrivateKey, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IsCA:        isCA, BasicConstraintsValid: true,
	}
	if ip := net.ParseIP(cn); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return cert, key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func keyPEM(t *testing.T, k *ecdsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// mtlsServer answers with the client certificate's name, and refuses a
// client without one signed by the fixture's CA.
func mtlsServer(t *testing.T, f tlsFixture, hits *atomic.Int32) string {
	t.Helper()
	pair, err := tls.X509KeyPair(f.serverCert, f.serverKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(f.caPEM)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, "hello "+r.TLS.PeerCertificates[0].Subject.CommonName+"\n")
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL
}

// uri's client_cert, client_key and ca_path: the files are read on the
// host (here this machine), the request authenticates with the client
// certificate and trusts only ca_path's CA.
func TestURIClientCert(t *testing.T) {
	f := newTLSFixture(t)
	var hits atomic.Int32
	url := mtlsServer(t, f, &hits)
	dir := t.TempDir()
	files := map[string][]byte{"ca.pem": f.caPEM, "other-ca.pem": f.otherCA, "client.pem": f.clientCert, "client.key": f.clientKey,
		"both.pem": append(append([]byte{}, f.clientCert...), f.clientKey...)}
	for n, b := range files {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	p := func(n string) string { return filepath.Join(dir, n) }
	h := moduletest.Local()

	// A GET is read-only: under --check it is made too and changes nothing.
	args := map[string]any{"url": url, "client_cert": p("client.pem"), "client_key": p("client.key"), "ca_path": p("ca.pem"), "return_content": true}
	if d, err := moduletest.CheckOnly(t, h, "uri", args); err != nil || !d.Empty() {
		t.Fatalf("check: %v %s", err, moduletest.Describe(d))
	}
	res := moduletest.NoChange(t, h, "uri", args)
	if res["status"] != 200 || res["content"] != "hello gpuctl-client\n" {
		t.Errorf("result %v", res)
	}
	// The key may sit in the certificate's file.
	res = moduletest.NoChange(t, h, "uri", map[string]any{"url": url, "client_cert": p("both.pem"), "ca_path": p("ca.pem"), "return_content": true})
	if res["content"] != "hello gpuctl-client\n" {
		t.Errorf("combined file: %v", res)
	}
	// dest: check → apply → check, then a second run finds nothing to do.
	out := t.TempDir()
	moduletest.Timeline(t, h, out, "uri", map[string]any{"url": url, "client_cert": p("both.pem"), "ca_path": p("ca.pem"), "dest": filepath.Join(out, "body")})
	if b, _ := os.ReadFile(filepath.Join(out, "body")); string(b) != "hello gpuctl-client\n" {
		t.Errorf("dest %q", b)
	}
	// A POST under --check is not sent; applied, it is.
	before := hits.Load()
	post := map[string]any{"url": url, "method": "POST", "client_cert": p("both.pem"), "validate_certs": false, "status_code": 200}
	if d, err := moduletest.CheckOnly(t, h, "uri", post); err != nil || d.Empty() || hits.Load() != before {
		t.Errorf("POST under --check: %v %s, hits %d→%d", err, moduletest.Describe(d), before, hits.Load())
	}
	if _, _, err := moduletest.Apply(t, h, "uri", post); err != nil || hits.Load() != before+1 {
		t.Errorf("POST: %v, hits %d→%d", err, before, hits.Load())
	}

	for _, tc := range []struct {
		args map[string]any
		want string
	}{
		{map[string]any{"url": url, "ca_path": p("ca.pem")}, "certificate"},                                     // no client certificate
		{map[string]any{"url": url, "client_cert": p("both.pem")}, "certificate"},                               // system roots do not know the CA
		{map[string]any{"url": url, "client_cert": p("both.pem"), "ca_path": p("other-ca.pem")}, "certificate"}, // the wrong CA
		{map[string]any{"url": url, "client_cert": p("client.pem"), "ca_path": p("ca.pem")}, "client_cert"},     // no key anywhere
		{map[string]any{"url": url, "client_cert": p("missing.pem"), "ca_path": p("ca.pem")}, "missing.pem"},
		{map[string]any{"url": url, "client_cert": p("both.pem"), "ca_path": p("client.key")}, "ca_path"},
	} {
		_, _, err := moduletest.Apply(t, h, "uri", tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error with %q", tc.args, err, tc.want)
		}
	}
}

func TestURIClientCertBadArgs(t *testing.T) {
	moduletest.BadArgs(t, "uri", map[string]any{"url": "https://x", "client_key": "/k.pem"}, "client_key needs client_cert")
	moduletest.BadArgs(t, "uri", map[string]any{"url": "https://x", "client_cert": "c.pem"}, "client_cert")
	moduletest.BadArgs(t, "uri", map[string]any{"url": "https://x", "ca_path": "ca.pem"}, "ca_path")
}

// On a real host: the files live on the host, as ansible-core's uri reads
// them there, and gpuctl's request gets what ansible-core's gets.
func TestURIClientCertHost(t *testing.T) {
	f := newTLSFixture(t)
	var hits atomic.Int32
	url := mtlsServer(t, f, &hits)
	r := moduletest.Start(t, 1)[0]
	for n, b := range map[string][]byte{"ca.pem": f.caPEM, "client.pem": f.clientCert, "client.key": f.clientKey} {
		r.Run(t, "mkdir -p /etc/gpuctl-tls && printf '%s' '"+string(b)+"' > /etc/gpuctl-tls/"+n)
	}
	args := map[string]any{"url": url, "client_cert": "/etc/gpuctl-tls/client.pem", "client_key": "/etc/gpuctl-tls/client.key",
		"ca_path": "/etc/gpuctl-tls/ca.pem", "return_content": true}
	ours := r.NoChange(t, "uri", args)
	if ours["content"] != "hello gpuctl-client\n" {
		t.Fatalf("result %v", ours)
	}
	// ansible-core's module runs on the host in python3, which the test image lacks.
	r.Run(t, "command -v python3 >/dev/null || apt-get install -y -q python3 >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get install -y -q python3 >/dev/null)")
	theirs := ansibletest.RunOn(t, target(r), "uri", args, false)
	for _, k := range []string{"status", "content", "changed"} {
		v := ours[k]
		if k == "changed" {
			v = false
		}
		if !ansibletest.Same(v, theirs[k]) {
			t.Errorf("%s: ours %v, ansible's %v", k, v, theirs[k])
		}
	}
}
