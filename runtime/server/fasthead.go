package server

import "bytes"

// The fast path's request-head parser. It accepts only the two request
// shapes it serves perfectly, a keep-alive HTTP/1.1
// POST /v2/models/{name}/infer with a Content-Length and a binary header,
// and the seed's POST /predict with a Content-Length and JSON (or no)
// Content-Type; for anything else it says headFallback and net/http reads
// the same bytes. So it need not know HTTP's corners: it only has to
// refuse them.

// headResult is what parseHead made of the buffered bytes.
type headResult int

const (
	headIncomplete headResult = iota // no blank line yet: read more
	headFast                         // a request the fast path serves
	headFallback                     // anything else: net/http answers it
)

// reqKind is the endpoint a fast request is for.
type reqKind int

const (
	kindV2Infer reqKind = iota
	kindPredict
)

// reqHead is what the fast path needs from a request head. Its slices
// point into the parsed buffer.
type reqHead struct {
	kind          reqKind
	n             int    // bytes of the head, blank line included
	name          []byte // the model name in the path
	host          []byte
	contentLength int64
	jsonLen       int // Inference-Header-Content-Length; -1 when absent
}

var (
	inferPrefix = []byte("POST /v2/models/")
	inferSuffix = []byte("/infer HTTP/1.1\r\n")
	predictLine = []byte("POST /predict HTTP/1.1\r\n")
	headEnd     = []byte("\r\n\r\n")
)

// parseHead parses the request head at the start of b.
func parseHead(b []byte) (reqHead, headResult) {
	h := reqHead{contentLength: -1, jsonLen: -1}
	switch {
	case bytes.HasPrefix(b, inferPrefix):
	case bytes.HasPrefix(b, predictLine):
		h.kind = kindPredict
	case len(b) < len(predictLine) && (bytes.HasPrefix(inferPrefix, b) || bytes.HasPrefix(predictLine, b)):
		return h, headIncomplete
	default:
		return h, headFallback
	}
	end := bytes.Index(b, headEnd)
	if end < 0 {
		// A bare LF would end the head for net/http but never here.
		if bytes.IndexByte(b, '\n') >= 0 && !crlfOnly(b) {
			return h, headFallback
		}
		return h, headIncomplete
	}
	h.n = end + len(headEnd)
	head := b[:end+2] // each line with its CRLF
	eol := bytes.Index(head, []byte("\r\n")) + 2
	line, rest := head[:eol], head[eol:]
	if h.kind == kindV2Infer {
		path := line[len(inferPrefix):]
		if !bytes.HasSuffix(path, inferSuffix) {
			return h, headFallback
		}
		h.name = path[:len(path)-len(inferSuffix)]
		if !plainName(h.name) {
			return h, headFallback
		}
	}
	var seen [4]bool // host, content-length, binary header, content-type
	for len(rest) > 0 {
		var l []byte
		l, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		k, v, ok := bytes.Cut(l, []byte(":"))
		if !ok || !token(k) {
			return h, headFallback
		}
		v = bytes.Trim(v, " \t")
		if !fieldValue(v) {
			return h, headFallback
		}
		i := -1
		switch {
		case bytes.EqualFold(k, []byte("Host")):
			i = 0
			if !hostValue(v) {
				return h, headFallback
			}
			h.host = v
		case bytes.EqualFold(k, []byte("Content-Length")):
			i = 1
			n, ok := digits(v, 18)
			if !ok {
				return h, headFallback
			}
			h.contentLength = n
		case bytes.EqualFold(k, []byte(binaryHeader)):
			if h.kind == kindPredict {
				return h, headFallback // not /predict's: net/http ignores it, and so answers differently
			}
			i = 2
			n, ok := digits(v, 9)
			if !ok {
				return h, headFallback
			}
			h.jsonLen = int(n)
		case bytes.EqualFold(k, []byte("Content-Type")):
			i = 3
			// /predict reads JSON whatever the type says, but refuses the
			// types a web page can post cross-site: only JSON is fast.
			if !bytes.Equal(v, []byte("application/json")) && (h.kind == kindPredict || !bytes.Equal(v, []byte("application/octet-stream"))) {
				return h, headFallback
			}
		case bytes.EqualFold(k, []byte("Connection")):
			if !bytes.EqualFold(v, []byte("keep-alive")) {
				return h, headFallback
			}
		case bytes.EqualFold(k, []byte("Transfer-Encoding")), bytes.EqualFold(k, []byte("Expect")),
			bytes.EqualFold(k, []byte("Upgrade")), bytes.EqualFold(k, []byte("Trailer")), bytes.EqualFold(k, []byte("Te")):
			return h, headFallback
		}
		if i >= 0 {
			if seen[i] {
				return h, headFallback // duplicates are net/http's to judge
			}
			seen[i] = true
		}
	}
	if !seen[0] || !seen[1] || h.kind == kindV2Infer && (!seen[2] || int64(h.jsonLen) > h.contentLength) {
		return h, headFallback
	}
	return h, headFast
}

// crlfOnly reports that every LF in b follows a CR.
func crlfOnly(b []byte) bool {
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			return false
		}
	}
	return true
}

// plainName is a path segment ServeMux takes as is: no escapes, no dot
// segments, nothing it would clean or redirect.
func plainName(b []byte) bool {
	if len(b) == 0 || bytes.Equal(b, []byte(".")) || bytes.Equal(b, []byte("..")) {
		return false
	}
	for _, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// token is an HTTP header name (RFC 9110's tchar).
func token(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || bytes.IndexByte([]byte("!#$%&'*+-.^_`|~"), c) >= 0) {
			return false
		}
	}
	return true
}

// fieldValue has no control characters but tab.
func fieldValue(b []byte) bool {
	for _, c := range b {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// hostValue is a plain host[:port]: a name, IPv4 or bracketed IPv6.
func hostValue(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == ':' || c == '[' || c == ']') {
			return false
		}
	}
	return true
}

// digits is a plain decimal of at most max digits.
func digits(b []byte, max int) (int64, bool) {
	if len(b) == 0 || len(b) > max {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}
