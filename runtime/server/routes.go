package server

import (
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
)

type route struct {
	method, path, endpoint string
	h                      http.HandlerFunc
}

func (s *Server) routeTable() []route {
	return []route{
		{"GET", "/{$}", "health", s.handleRoot},
		{"POST", "/predict", "predict", s.handlePredict},
		{"GET", "/docs", "docs", s.handleDocs},
		{"GET", "/openapi.json", "openapi", s.handleOpenAPI},
		{"GET", "/metrics", "metrics", s.handleMetrics},
		{"GET", "/v2", "v2_server", s.handleV2Server},
		{"GET", "/v2/health/live", "v2_live", s.handleLive},
		{"GET", "/v2/health/ready", "v2_ready", s.handleReady},
		{"GET", "/v2/models/{name}", "v2_model", s.handleV2Model},
		{"GET", "/v2/models/{name}/versions/{version}", "v2_model", s.handleV2Model},
		{"GET", "/v2/models/{name}/ready", "v2_model_ready", s.handleV2ModelReady},
		{"GET", "/v2/models/{name}/versions/{version}/ready", "v2_model_ready", s.handleV2ModelReady},
		{"POST", "/v2/models/{name}/infer", "v2_infer", s.handleV2Infer},
		{"POST", "/v2/models/{name}/versions/{version}/infer", "v2_infer", s.handleV2Infer},
	}
}

// routes registers each route with its method, and its path without one
// for the 405 answer: the catch-all "/" would otherwise take every other
// method from net/http's own 405.
func (s *Server) routes() {
	mux := http.NewServeMux()
	allow := map[string][]string{}
	var paths []string
	for _, rt := range s.routeTable() {
		mux.Handle(rt.method+" "+rt.path, s.instrument(rt.endpoint, rt.h))
		if allow[rt.path] == nil {
			paths = append(paths, rt.path)
		}
		allow[rt.path] = append(allow[rt.path], rt.method)
	}
	for _, p := range paths {
		methods := strings.Join(allow[p], ", ")
		mux.Handle(p, s.instrument("other", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", methods)
			errorShape(r)(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s takes %s, not %s; see /docs", r.URL.Path, methods, r.Method))
		}))
	}
	mux.Handle("/", s.instrument("other", func(w http.ResponseWriter, r *http.Request) {
		errorShape(r)(w, http.StatusNotFound, fmt.Sprintf("no endpoint %s %s; see /docs", r.Method, r.URL.Path))
	}))
	s.handler = s.guard(mux)
}

// errorShape is the protocol's error writer: {"error"} under /v2,
// FastAPI's {"detail"} elsewhere.
func errorShape(r *http.Request) func(http.ResponseWriter, int, string) {
	if r.URL.Path == "/v2" || strings.HasPrefix(r.URL.Path, "/v2/") {
		return v2Error
	}
	return writeError
}

// guard runs before routing: it refuses a Host the server does not serve
// and, while draining, tells every client to close its connection.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.hosts.allows(r.Host) {
			s.met.requests.WithLabelValues("host_check", "403").Inc()
			errorShape(r)(w, http.StatusForbidden, fmt.Sprintf("Host %q is not served here; allowed: %s (the server's --allowed-hosts)", r.Host, s.hosts))
			return
		}
		if s.drain.Load() {
			w.Header().Set("Connection", "close")
		}
		next.ServeHTTP(w, r)
	})
}

// hostSet is the Host names a server answers, lower case, without ports.
// A nil set allows any.
type hostSet []string

func newHostSet(names []string) hostSet {
	if slices.Contains(names, "*") {
		return nil
	}
	hs := hostSet{}
	for _, n := range names {
		hs = append(hs, strings.ToLower(strings.Trim(n, "[]")))
	}
	return hs
}

func (hs hostSet) allows(host string) bool {
	if hs == nil {
		return true
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	for _, n := range hs {
		if strings.EqualFold(n, host) {
			return true
		}
	}
	return false
}

func (hs hostSet) String() string {
	if hs == nil {
		return "*"
	}
	return strings.Join(hs, ", ")
}

// defaultAllowedHosts is loopback names for a loopback address, else any.
func defaultAllowedHosts(addr string) []string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	ip := net.ParseIP(host)
	if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return []string{"*"}
	}
	names := []string{"localhost", "127.0.0.1", "::1"}
	if !slices.Contains(names, host) {
		names = append(names, host)
	}
	return names
}
