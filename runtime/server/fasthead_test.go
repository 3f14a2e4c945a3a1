package server

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
)

const okHead = "POST /v2/models/mlp/infer HTTP/1.1\r\nHost: localhost:8000\r\nContent-Type: application/octet-stream\r\nInference-Header-Content-Length: 10\r\nContent-Length: 42\r\n\r\n"

const predictHead = "POST /predict HTTP/1.1\r\nHost: localhost:8000\r\nUser-Agent: curl/8\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\n"

func TestParseHead(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     headResult
		cl       int64
		jl       int
	}{
		{"valid", okHead, headFast, 42, 10},
		{"valid with a body and a pipelined request after", okHead + strings.Repeat("x", 42) + okHead, headFast, 42, 10},
		{"case-insensitive names", "POST /v2/models/mlp/infer HTTP/1.1\r\nhOsT: localhost\r\ninference-header-content-length: 0\r\nCONTENT-LENGTH: 7\r\nconnection: Keep-Alive\r\n\r\n", headFast, 7, 0},
		{"spaces around values", "POST /v2/models/mlp/infer HTTP/1.1\r\nHost:localhost \r\nInference-Header-Content-Length:  3\t\r\nContent-Length: 7\r\n\r\n", headFast, 7, 3},
		{"other headers ignored", "POST /v2/models/mlp/infer HTTP/1.1\r\nHost: a\r\nUser-Agent: x/1\r\nAccept: */*\r\nInference-Header-Content-Length: 1\r\nContent-Length: 1\r\n\r\n", headFast, 1, 1},
		{"empty", "", headIncomplete, 0, 0},
		{"prefix only", "POST /v2/mo", headIncomplete, 0, 0},
		{"no blank line yet", okHead[:len(okHead)-2], headIncomplete, 0, 0},
		{"split in a CRLF", okHead[:len(okHead)-1], headIncomplete, 0, 0},
		{"GET", "GET /v2/health/live HTTP/1.1\r\nHost: a\r\n\r\n", headFallback, 0, 0},
		{"other path", "POST /predictions HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\n", headFallback, 0, 0},
		{"predict", predictHead, headFast, 9, -1},
		{"predict without a type", strings.Replace(predictHead, "Content-Type: application/json\r\n", "", 1), headFast, 9, -1},
		{"predict prefix only", "POST /pre", headIncomplete, 0, 0},
		{"predict as text/plain", strings.Replace(predictHead, "application/json", "text/plain", 1), headFallback, 0, 0},
		{"predict as octet-stream", strings.Replace(predictHead, "application/json", "application/octet-stream", 1), headFallback, 0, 0},
		{"predict with a binary header", strings.Replace(predictHead, "\r\n\r\n", "\r\nInference-Header-Content-Length: 1\r\n\r\n", 1), headFallback, 0, 0},
		{"predict without content-length", strings.Replace(predictHead, "Content-Length: 9\r\n", "", 1), headFallback, 0, 0},
		{"predict with a query", strings.Replace(predictHead, "/predict", "/predict?a=b", 1), headFallback, 0, 0},
		{"predict GET", strings.Replace(predictHead, "POST", "GET", 1), headFallback, 0, 0},
		{"versioned path", "POST /v2/models/mlp/versions/1/infer HTTP/1.1\r\nHost: a\r\nInference-Header-Content-Length: 1\r\nContent-Length: 1\r\n\r\n", headFallback, 0, 0},
		{"escaped name", strings.Replace(okHead, "mlp", "m%6cp", 1), headFallback, 0, 0},
		{"dot segment", strings.Replace(okHead, "mlp", "..", 1), headFallback, 0, 0},
		{"query", strings.Replace(okHead, "/infer", "/infer?x=1", 1), headFallback, 0, 0},
		{"HTTP/1.0", strings.Replace(okHead, "HTTP/1.1", "HTTP/1.0", 1), headFallback, 0, 0},
		{"missing content-length", strings.Replace(okHead, "Content-Length: 42\r\n", "", 1), headFallback, 0, 0},
		{"missing binary header", strings.Replace(okHead, "Inference-Header-Content-Length: 10\r\n", "", 1), headFallback, 0, 0},
		{"missing host", strings.Replace(okHead, "Host: localhost:8000\r\n", "", 1), headFallback, 0, 0},
		{"two content-lengths", strings.Replace(okHead, "\r\n\r\n", "\r\nContent-Length: 42\r\n\r\n", 1), headFallback, 0, 0},
		{"two hosts", strings.Replace(okHead, "\r\n\r\n", "\r\nHost: b\r\n\r\n", 1), headFallback, 0, 0},
		{"signed length", strings.Replace(okHead, "Length: 42", "Length: +42", 1), headFallback, 0, 0},
		{"huge length", strings.Replace(okHead, "Length: 42", "Length: 9999999999999999999", 1), headFallback, 0, 0},
		{"json part longer than body", strings.Replace(okHead, "Length: 10", "Length: 43", 1), headFallback, 0, 0},
		{"chunked", strings.Replace(okHead, "\r\n\r\n", "\r\nTransfer-Encoding: chunked\r\n\r\n", 1), headFallback, 0, 0},
		{"expect", strings.Replace(okHead, "\r\n\r\n", "\r\nExpect: 100-continue\r\n\r\n", 1), headFallback, 0, 0},
		{"upgrade", strings.Replace(okHead, "\r\n\r\n", "\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n", 1), headFallback, 0, 0},
		{"connection close", strings.Replace(okHead, "\r\n\r\n", "\r\nConnection: close\r\n\r\n", 1), headFallback, 0, 0},
		{"form content type", strings.Replace(okHead, "application/octet-stream", "text/plain", 1), headFallback, 0, 0},
		{"bare LF", strings.ReplaceAll(okHead, "\r\n", "\n"), headFallback, 0, 0},
		{"obs-fold", strings.Replace(okHead, "\r\nContent-Length", "\r\n continued\r\nContent-Length", 1), headFallback, 0, 0},
		{"space before colon", strings.Replace(okHead, "Host:", "Host :", 1), headFallback, 0, 0},
		{"control in value", strings.Replace(okHead, "localhost", "local\x01host", 1), headFallback, 0, 0},
		{"odd host", strings.Replace(okHead, "localhost", "local/host", 1), headFallback, 0, 0},
		{"leading CRLF", "\r\n" + okHead, headFallback, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, res := parseHead([]byte(tc.in))
			if res != tc.want {
				t.Fatalf("result %d, want %d", res, tc.want)
			}
			if res != headFast {
				return
			}
			name, kind := "mlp", kindV2Infer
			if strings.HasPrefix(tc.in, "POST /predict") {
				name, kind = "", kindPredict
			}
			if h.kind != kind || h.contentLength != tc.cl || h.jsonLen != tc.jl || string(h.name) != name || h.n != strings.Index(tc.in, "\r\n\r\n")+4 {
				t.Errorf("head %+v", h)
			}
		})
	}
}

// readHead finds a head that arrives a byte at a time, and gives a head
// larger than its buffer to net/http.
func TestReadHeadSplitAndOversized(t *testing.T) {
	br := bufio.NewReaderSize(io.MultiReader(oneByteReader(okHead+"body")), fastReadBuf)
	h, res, err := readHead(br)
	if err != nil || res != headFast || h.n != len(okHead) {
		t.Fatalf("split head: %+v %d %v", h, res, err)
	}
	big := strings.Replace(okHead, "\r\n\r\n", "\r\nX-Pad: "+strings.Repeat("a", fastReadBuf)+"\r\n\r\n", 1)
	br = bufio.NewReaderSize(strings.NewReader(big), fastReadBuf)
	if _, res, err := readHead(br); err != nil || res != headFallback {
		t.Fatalf("oversized head: %d %v; want a fallback", res, err)
	}
	if br.Buffered() != fastReadBuf {
		t.Errorf("oversized head consumed bytes: %d buffered", br.Buffered())
	}
	br = bufio.NewReaderSize(strings.NewReader(okHead[:40]), fastReadBuf)
	if _, _, err := readHead(br); err == nil {
		t.Error("a head cut short by EOF gave no error")
	}
}

type oneByte struct{ s string }

func (o *oneByte) Read(p []byte) (int, error) {
	if o.s == "" {
		return 0, io.EOF
	}
	p[0] = o.s[0]
	o.s = o.s[1:]
	return 1, nil
}

func oneByteReader(s string) io.Reader { return &oneByte{s} }

// FuzzParseHead: parseHead never panics, and what it serves net/http
// reads the same way: the same path, lengths and Host.
func FuzzParseHead(f *testing.F) {
	f.Add([]byte(okHead))
	f.Add([]byte(okHead + "0123456789"))
	f.Add([]byte("POST /v2/models/mlp/infer HTTP/1.1\r\nhost: a\r\nInference-Header-Content-Length: 0\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Add([]byte(predictHead + "[1,2,3,4]"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, res := parseHead(b)
		if res != headFast {
			return
		}
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(b[:h.n])))
		if err != nil {
			t.Fatalf("served a head net/http refuses: %v\n%q", err, b[:h.n])
		}
		path, binary := "/v2/models/"+string(h.name)+"/infer", true
		if h.kind == kindPredict {
			path, binary = "/predict", false
		}
		if req.Method != "POST" || req.URL.Path != path || req.URL.RawQuery != "" || req.ContentLength != h.contentLength ||
			req.Host != string(h.host) || (req.Header.Get(binaryHeader) != "") != binary || len(req.TransferEncoding) > 0 || req.Close ||
			h.kind == kindPredict && crossSiteType(req.Header.Get("Content-Type")) {
			t.Fatalf("net/http reads it otherwise: %s %s cl=%d host=%q close=%v; fast %+v\n%q", req.Method, req.URL.Path, req.ContentLength, req.Host, req.Close, h, b[:h.n])
		}
	})
}
