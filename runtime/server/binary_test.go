package server

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
)

// firstNonFinite finds the first NaN or ±Inf wherever it is: in the
// unrolled body, in the tail, or nowhere; and the largest finite values
// and subnormals are not mistaken for it.
func TestFirstNonFinite(t *testing.T) {
	for _, n := range []int{0, 1, 3, 4, 5, 8, 17, 1024} {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(i%5) - 2
		}
		if n > 2 {
			x[1], x[2] = math.MaxFloat32, -math.SmallestNonzeroFloat32
		}
		if got := firstNonFinite(x); got != -1 {
			t.Fatalf("n=%d all finite: got %d", n, got)
		}
		for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))} {
			for _, at := range []int{0, n / 2, n - 1} {
				if at < 0 || at >= n {
					continue
				}
				y := append([]float32(nil), x...)
				y[at] = bad
				if at+1 < n {
					y[n-1] = float32(math.NaN()) // a later one must not win
				}
				if got := firstNonFinite(y); got != at {
					t.Fatalf("n=%d %v at %d: got %d", n, bad, at, got)
				}
			}
		}
	}
}

// A binary FP32 request of several rows answers, in binary, exactly what
// the same rows give as JSON; a non-finite value deep in the tensor is
// refused with its index.
func TestV2BinaryMatchesJSON(t *testing.T) {
	s := newServer(t, Config{}, nil)
	h := s.Handler()
	const rows = 7
	vals := make([]float32, rows*10)
	for i := range vals {
		vals[i] = float32(i%13)*0.375 - 2
	}
	js := fmt.Sprintf(`{"inputs":[{"name":"input","shape":[%d,10],"datatype":"FP32","parameters":{"binary_data_size":%d}}],"outputs":[{"name":"output","parameters":{"binary_data":true}}]}`, rows, 4*len(vals))
	body := []byte(js)
	for _, v := range vals {
		body = binary.LittleEndian.AppendUint32(body, math.Float32bits(v))
	}
	w := do(t, h, "POST", "/v2/models/seed/infer", string(body), binaryHeader, fmt.Sprint(len(js)))
	var n int
	fmt.Sscan(w.Header().Get(binaryHeader), &n)
	rb := w.Body.Bytes()
	if w.Code != 200 || n <= 0 || len(rb) != n+4*rows {
		t.Fatalf("binary: %d header %q body %q", w.Code, w.Header().Get(binaryHeader), rb)
	}
	jv, _ := json.Marshal(vals)
	w = do(t, h, "POST", "/v2/models/seed/infer", fmt.Sprintf(`{"inputs":[{"name":"input","shape":[%d,10],"datatype":"FP32","data":%s}]}`, rows, jv))
	var resp struct {
		Outputs []struct{ Data []float32 } `json:"outputs"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil || w.Code != 200 || len(resp.Outputs) != 1 || len(resp.Outputs[0].Data) != rows {
		t.Fatalf("json: %d %s", w.Code, w.Body)
	}
	for r, want := range resp.Outputs[0].Data {
		if got := math.Float32frombits(binary.LittleEndian.Uint32(rb[n+4*r:])); got != want {
			t.Errorf("row %d: binary %v, JSON %v", r, got, want)
		}
	}

	binary.LittleEndian.PutUint32(body[len(js)+4*53:], math.Float32bits(float32(math.Inf(-1))))
	w = do(t, h, "POST", "/v2/models/seed/infer", string(body), binaryHeader, fmt.Sprint(len(js)))
	if w.Code != 400 || !strings.Contains(w.Body.String(), "element 53 is not finite") {
		t.Errorf("-Inf at 53: %d %s", w.Code, w.Body)
	}
}
