package server

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/http"
	"strconv"
	"sync/atomic"

	"github.com/gpuctl/gpuctl/runtime/model"
)

// The v2 inference path. A binary-extension request is read into a pooled
// buffer, its JSON part is decoded once per distinct header (clients send
// the same header request after request) and its tensor is converted into
// a pooled float buffer; the answer is written into a pooled byte buffer.
// So a request allocates nothing per row, and little per request.

// v2Header is what an inference request's JSON part says, checked against
// the model: everything but the tensor's values.
type v2Header struct {
	idJSON    []byte // the request's id, JSON-encoded; nil when absent
	inName    string
	dt        *dtype
	shape     []int
	rows      int
	binBytes  int             // bytes of binary input; -1 when the data is JSON
	data      json.RawMessage // JSON data (binBytes < 0); points into the body
	binaryOut bool
}

func (s *Server) handleV2Infer(w http.ResponseWriter, r *http.Request) {
	if !s.checkModel(w, r) {
		return
	}
	if err := refuseCrossSite(r); err != nil {
		s.v2Fail(w, err)
		return
	}
	rb := s.getBuf()
	release, err := s.readBody(w, r, rb)
	if err != nil {
		s.putBuf(rb)
		s.v2Fail(w, err)
		return
	}
	defer release() // until the answer is written, as for /predict
	h, x, err := s.decodeInfer(r, rb)
	if err != nil {
		s.putBuf(rb)
		s.v2Fail(w, err)
		return
	}
	out := grow(rb.out, h.rows*s.m.Out)
	rb.out = out
	if err := s.infer(r.Context(), x, h.rows, out); err != nil {
		// The batcher may still read x and write out after a timeout:
		// the buffers are dropped, not pooled.
		s.v2Fail(w, err)
		return
	}
	// Binary answers could carry NaN and Inf, but one rule for every
	// answer is easier on clients than a rule per encoding.
	if err := checkFinite(out, s.m.Out); err != nil {
		s.putBuf(rb)
		s.v2Fail(w, err)
		return
	}
	body, jsonLen := s.v2Answer(rb.resp[:0], h, out)
	hd := w.Header()
	if h.binaryOut {
		hd["Content-Type"] = octetContentType
		hd[binaryHeader] = []string{strconv.Itoa(jsonLen)}
	} else {
		hd["Content-Type"] = jsonContentType
	}
	hd["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.Write(body) // copied by the writer before it returns
	rb.resp = body
	s.putBuf(rb)
}

var octetContentType = []string{"application/octet-stream"}

// grow is b resliced to n, reallocated only when too small.
func grow[T any](b []T, n int) []T {
	if cap(b) < n {
		return make([]T, n)
	}
	return b[:n]
}

// v2Answer appends the protocol's answer: JSON with the output's data, or
// for a binary answer the JSON header then the raw little-endian floats.
// It returns the body and the JSON part's length.
func (s *Server) v2Answer(b []byte, h *v2Header, out []float32) ([]byte, int) {
	b = append(b, s.v2Prefix...)
	if h.idJSON != nil {
		b = append(b, `,"id":`...)
		b = append(b, h.idJSON...)
	}
	b = append(b, s.v2Output...)
	if len(h.shape) == 2 {
		b = strconv.AppendInt(b, int64(h.rows), 10)
		b = append(b, ',')
	}
	b = strconv.AppendInt(b, int64(s.m.Out), 10)
	b = append(b, ']')
	if !h.binaryOut {
		b = append(b, `,"data":[`...)
		for i, v := range out {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendFloat(b, v)
		}
		b = append(b, "]}]}\n"...)
		return b, len(b)
	}
	b = append(b, `,"parameters":{"binary_data_size":`...)
	b = strconv.AppendInt(b, int64(4*len(out)), 10)
	b = append(b, "}}]}"...)
	jsonLen := len(b)
	b = grow(b, jsonLen+4*len(out))
	if nativeLittleEndian() {
		copy(b[jsonLen:], floatBytes(out))
		return b, jsonLen
	}
	for i, v := range out {
		binary.LittleEndian.PutUint32(b[jsonLen+4*i:], math.Float32bits(v))
	}
	return b, jsonLen
}

// v2AnswerParts are the constant pieces of every answer, made once.
func v2AnswerParts(m *model.Model) (prefix, output []byte) {
	q := func(v string) string { b, _ := json.Marshal(v); return string(b) }
	prefix = []byte(`{"model_name":` + q(m.Name) + `,"model_version":` + q(m.Version))
	output = []byte(`,"outputs":[{"name":` + q(m.OutputName) + `,"datatype":"FP32","shape":[`)
	return prefix, output
}

// decodeInfer reads the request into one row-major float32 batch: binary
// data into rb.x, JSON data into a new slice.
func (s *Server) decodeInfer(r *http.Request, rb *reqBuf) (*v2Header, []float32, error) {
	jsonLen := -1
	if hl := r.Header.Get(binaryHeader); hl != "" {
		n, err := strconv.Atoi(hl)
		if err != nil || n < 0 || n > len(rb.body) {
			return nil, nil, badInput(http.StatusBadRequest, "%s is %q; it must be the JSON part's length, at most the body's %d bytes", binaryHeader, hl, len(rb.body))
		}
		jsonLen = n
	}
	return s.decodeTensor(jsonLen, rb)
}

// decodeTensor is decodeInfer after the binary header's value, jsonLen
// (-1 when absent), was checked against the body's length.
func (s *Server) decodeTensor(jsonLen int, rb *reqBuf) (*v2Header, []float32, error) {
	body := rb.body
	jsonPart, binPart := body, []byte(nil)
	if jsonLen >= 0 {
		jsonPart, binPart = body[:jsonLen], body[jsonLen:]
	}
	h := s.v2Headers.get(jsonPart)
	if h == nil {
		var err error
		if h, err = s.parseV2Header(jsonPart); err != nil {
			return nil, nil, err
		}
		if h.binBytes >= 0 {
			s.v2Headers.put(jsonPart, h)
		}
	}
	n := h.rows * s.m.In
	if h.binBytes >= 0 {
		if len(binPart) != h.binBytes {
			return nil, nil, badInput(http.StatusBadRequest, "binary part of the body has %d bytes, input %q needs %d (is %s right?)", len(binPart), h.inName, h.binBytes, binaryHeader)
		}
		x := grow(rb.x, n)
		rb.x = x
		if i := decodeBinary(h.dt, binPart, x); i >= 0 {
			return nil, nil, badInput(http.StatusBadRequest, "input %q: element %d is not finite; NaN and Infinity are not accepted", h.inName, i)
		}
		return h, x, nil
	}
	if len(binPart) != 0 {
		return nil, nil, badInput(http.StatusBadRequest, "body has %d binary bytes but no input sets binary_data_size", len(binPart))
	}
	x, err := tensorData(h.data, n, s.m.In, h.rows, h.dt)
	if err != nil {
		var ie *inputError
		if errors.As(err, &ie) {
			ie.status = http.StatusBadRequest
		}
		return nil, nil, fmt.Errorf("input %q: %w", h.inName, err)
	}
	if len(x) != n {
		return nil, nil, badInput(http.StatusBadRequest, "input %q: shape %v needs %d values, data has %d", h.inName, h.shape, n, len(x))
	}
	if i := firstNonFinite(x); i >= 0 {
		return nil, nil, badInput(http.StatusBadRequest, "input %q: element %d is not finite; NaN and Infinity are not accepted", h.inName, i)
	}
	return h, x, nil
}

// parseV2Header decodes and checks the JSON part of a request.
func (s *Server) parseV2Header(jsonPart []byte) (*v2Header, error) {
	var req inferRequest
	if err := json.Unmarshal(jsonPart, &req); err != nil {
		return nil, badInput(http.StatusBadRequest, "malformed inference request JSON: %v", err)
	}
	if len(req.Inputs) != 1 {
		return nil, badInput(http.StatusBadRequest, "got %d inputs; the model takes one, %q, FP32 of shape [-1, %d]", len(req.Inputs), s.m.InputName, s.m.In)
	}
	in := req.Inputs[0]
	if in.Name != s.m.InputName {
		return nil, badInput(http.StatusBadRequest, "unknown input %q; the model's input is %q", in.Name, s.m.InputName)
	}
	dt, ok := dtypes[in.Datatype]
	if !ok {
		return nil, badInput(http.StatusBadRequest, "input %q has datatype %q; expected FP32 (or another numeric type: FP64, FP16, BF16, INT*, UINT*)", in.Name, in.Datatype)
	}
	rows, err := s.checkShape(in.Shape)
	if err != nil {
		return nil, err
	}
	h := &v2Header{inName: in.Name, dt: dt, shape: in.Shape, rows: rows, binBytes: -1, binaryOut: flag(req.Parameters, "binary_data_output")}
	if req.ID != "" {
		h.idJSON, _ = json.Marshal(req.ID)
	}
	for _, o := range req.Outputs {
		if o.Name != s.m.OutputName {
			return nil, badInput(http.StatusBadRequest, "unknown output %q; the model's output is %q", o.Name, s.m.OutputName)
		}
		if _, ok := o.Parameters["binary_data"]; ok {
			h.binaryOut = flag(o.Parameters, "binary_data")
		}
	}
	n := rows * s.m.In
	if bs, ok := in.Parameters["binary_data_size"]; ok {
		f, isNum := bs.(float64)
		if !isNum || f != math.Trunc(f) || f < 0 {
			return nil, badInput(http.StatusBadRequest, "input %q: binary_data_size is %v; it must be a non-negative integer (int64)", in.Name, bs)
		}
		if f != float64(n*dt.size) {
			return nil, badInput(http.StatusBadRequest, "input %q: binary_data_size is %v, shape %v of %s needs %d bytes", in.Name, bs, in.Shape, in.Datatype, n*dt.size)
		}
		h.binBytes = n * dt.size
		return h, nil
	}
	if len(in.Data) == 0 {
		return nil, badInput(http.StatusBadRequest, "input %q has no data and no binary_data_size", in.Name)
	}
	if dt.noJSON {
		return nil, badInput(http.StatusBadRequest, "input %q: %s has no JSON form in the protocol; send it as binary data (binary_data_size and %s)", in.Name, dt.name, binaryHeader)
	}
	h.data = in.Data
	return h, nil
}

// headerCache maps a binary request's JSON part to its checked header.
// Lookups are lock-free reads of an immutable map; an insert copies it,
// and a full map starts over, so a stream of distinct headers (unique
// ids) costs a copy of a small map, never unbounded memory.
type headerCache struct {
	m atomic.Pointer[map[string]*v2Header]
}

const headerCacheSize = 64

func (c *headerCache) get(b []byte) *v2Header {
	if m := c.m.Load(); m != nil {
		return (*m)[string(b)] // no allocation: the conversion is only a key
	}
	return nil
}

func (c *headerCache) put(b []byte, h *v2Header) {
	old := c.m.Load()
	next := map[string]*v2Header{}
	if old != nil && len(*old) < headerCacheSize {
		next = maps.Clone(*old)
	}
	next[string(b)] = h
	c.m.CompareAndSwap(old, &next) // a lost race only misses the cache
}

// decodeBinary converts little-endian values of dt into x and returns the
// index of the first value that is not finite in float32, or -1.
func decodeBinary(dt *dtype, b []byte, x []float32) int {
	le := binary.LittleEndian
	if dt.name == "FP32" {
		if nativeLittleEndian() {
			copy(floatBytes(x), b[:4*len(x)])
			return firstNonFinite(x)
		}
		for i := range x {
			u := le.Uint32(b[4*i:])
			if u&0x7f800000 == 0x7f800000 {
				return i
			}
			x[i] = math.Float32frombits(u)
		}
		return -1
	}
	for i := range x {
		x[i] = decodeValue(dt.name, b, i)
	}
	return firstNonFinite(x)
}

func decodeValue(dt string, b []byte, i int) float32 {
	le := binary.LittleEndian
	switch dt {
	case "FP64":
		return float32(math.Float64frombits(le.Uint64(b[8*i:])))
	case "FP16":
		return model.F16ToFloat32(le.Uint16(b[2*i:]))
	case "BF16":
		return model.BF16ToFloat32(le.Uint16(b[2*i:]))
	case "INT8":
		return float32(int8(b[i]))
	case "UINT8":
		return float32(b[i])
	case "INT16":
		return float32(int16(le.Uint16(b[2*i:])))
	case "UINT16":
		return float32(le.Uint16(b[2*i:]))
	case "INT32":
		return float32(int32(le.Uint32(b[4*i:])))
	case "UINT32":
		return float32(le.Uint32(b[4*i:]))
	case "INT64":
		return float32(int64(le.Uint64(b[8*i:])))
	case "UINT64":
		return float32(le.Uint64(b[8*i:]))
	}
	return float32(math.NaN()) // unreachable: dtypes lists the names above
}

// firstNonFinite is the index of the first NaN or ±Inf in x, or -1; it
// tests the exponent bits rather than converting each value.
func firstNonFinite(x []float32) int {
	// A value is NaN or ±Inf when its exponent bits are all ones; adding
	// one to the exponent then carries into the sign bit. Four values are
	// tested per branch, since most tensors have none.
	const exp, one, carry = 0x7f800000, 0x00800000, 0x80000000
	nf := func(v float32) uint32 { return (math.Float32bits(v) & exp) + one }
	i := 0
	for ; i+4 <= len(x); i += 4 {
		if (nf(x[i])|nf(x[i+1])|nf(x[i+2])|nf(x[i+3]))&carry != 0 {
			break
		}
	}
	for ; i < len(x); i++ {
		if nf(x[i])&carry != 0 {
			return i
		}
	}
	return -1
}
