package model

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
)

// maxHeaderBytes bounds the JSON header of a safetensors file so a corrupt
// length field cannot make us allocate gigabytes before failing.
const maxHeaderBytes = 100 << 20

// Tensor is one tensor read from a safetensors file, converted to float32.
// Shape follows the file (PyTorch's order: a linear weight is [out, in]).
type Tensor struct {
	Name  string
	DType string
	Shape []int
	Data  []float32
}

// Tensors maps names to tensors, as a PyTorch state_dict does.
type Tensors map[string]*Tensor

type stEntry struct {
	DType       string   `json:"dtype"`
	Shape       []int    `json:"shape"`
	DataOffsets [2]int64 `json:"data_offsets"`
}

// dtypeSize lists the element types we convert to float32; integer types are
// refused because a weight stored as int is almost always a quantised model
// that needs scales this loader does not know about.
var dtypeSize = map[string]int{"F32": 4, "F16": 2, "BF16": 2, "F64": 8}

// ReadSafetensorsFile reads every tensor of a safetensors file.
func ReadSafetensorsFile(path string) (Tensors, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read weights: %w", err)
	}
	ts, err := ParseSafetensors(b)
	if err != nil {
		return nil, fmt.Errorf("weights %s: %w", path, err)
	}
	return ts, nil
}

// ParseSafetensors decodes the safetensors format: an 8-byte little-endian
// header length, a JSON header naming each tensor's dtype, shape and byte
// range, then the raw little-endian data.
func ParseSafetensors(b []byte) (Tensors, error) {
	if len(b) < 8 {
		return nil, errors.New("safetensors: file shorter than its 8-byte header length")
	}
	n := binary.LittleEndian.Uint64(b[:8])
	if n > maxHeaderBytes || n > uint64(len(b)-8) {
		return nil, fmt.Errorf("safetensors: header length %d does not fit a %d-byte file", n, len(b))
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &raw); err != nil {
		return nil, fmt.Errorf("safetensors: header is not JSON: %w", err)
	}
	data := b[8+n:]
	ts := Tensors{}
	type span struct {
		name       string
		begin, end int64
	}
	var spans []span
	for name, msg := range raw {
		if name == "__metadata__" {
			continue
		}
		var e stEntry
		if err := json.Unmarshal(msg, &e); err != nil {
			return nil, fmt.Errorf("safetensors: tensor %q: %w", name, err)
		}
		size, ok := dtypeSize[e.DType]
		if !ok {
			return nil, fmt.Errorf("safetensors: tensor %q has dtype %s; supported: F32, F16, BF16, F64", name, e.DType)
		}
		numel := int64(1)
		for _, d := range e.Shape {
			if d < 0 {
				return nil, fmt.Errorf("safetensors: tensor %q has negative dimension in shape %v", name, e.Shape)
			}
			numel *= int64(d)
			if numel > math.MaxInt32*4 {
				return nil, fmt.Errorf("safetensors: tensor %q shape %v is too large", name, e.Shape)
			}
		}
		begin, end := e.DataOffsets[0], e.DataOffsets[1]
		if begin < 0 || end < begin || end > int64(len(data)) {
			return nil, fmt.Errorf("safetensors: tensor %q byte range [%d,%d) outside the %d data bytes", name, begin, end, len(data))
		}
		if end-begin != numel*int64(size) {
			return nil, fmt.Errorf("safetensors: tensor %q: shape %v of %s needs %d bytes, range holds %d", name, e.Shape, e.DType, numel*int64(size), end-begin)
		}
		spans = append(spans, span{name, begin, end})
		ts[name] = &Tensor{Name: name, DType: e.DType, Shape: e.Shape, Data: decode(e.DType, data[begin:end], int(numel))}
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].begin < spans[j].begin })
	for i := 1; i < len(spans); i++ {
		if spans[i].begin < spans[i-1].end {
			return nil, fmt.Errorf("safetensors: tensors %q and %q overlap", spans[i-1].name, spans[i].name)
		}
	}
	return ts, nil
}

func decode(dtype string, b []byte, n int) []float32 {
	out := make([]float32, n)
	switch dtype {
	case "F32":
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
	case "F64":
		for i := range out {
			out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:])))
		}
	case "BF16":
		for i := range out {
			out[i] = BF16ToFloat32(binary.LittleEndian.Uint16(b[2*i:]))
		}
	case "F16":
		for i := range out {
			out[i] = F16ToFloat32(binary.LittleEndian.Uint16(b[2*i:]))
		}
	}
	return out
}

// BF16ToFloat32 widens a bfloat16 bit pattern.
func BF16ToFloat32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// Float32ToBF16 rounds to nearest even, as PyTorch does; NaN stays NaN.
func Float32ToBF16(f float32) uint16 {
	u := math.Float32bits(f)
	if u&0x7fffffff > 0x7f800000 {
		return uint16(u>>16) | 0x40
	}
	u += 0x7fff + (u>>16)&1
	return uint16(u >> 16)
}

// F16ToFloat32 widens an IEEE half-precision bit pattern, subnormals included.
func F16ToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	man := uint32(h) & 0x3ff
	switch {
	case exp == 0 && man == 0:
		return math.Float32frombits(sign)
	case exp == 0:
		// Subnormal half: value is man * 2^-24.
		f := float32(man) * (1.0 / (1 << 24))
		if sign != 0 {
			f = -f
		}
		return f
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | man<<13)
	}
	return math.Float32frombits(sign | (exp+112)<<23 | man<<13)
}

// WriteSafetensors writes float32 tensors in name order; the model
// generator and tests use it, so the files it writes are what PyTorch's
// safetensors.torch.save_file would write for the same tensors.
func WriteSafetensors(w io.Writer, ts Tensors, metadata map[string]string) error {
	names := make([]string, 0, len(ts))
	for n := range ts {
		names = append(names, n)
	}
	sort.Strings(names)
	header := map[string]any{}
	if len(metadata) > 0 {
		header["__metadata__"] = metadata
	}
	var off int64
	for _, n := range names {
		t := ts[n]
		size := int64(len(t.Data)) * 4
		header[n] = stEntry{DType: "F32", Shape: t.Shape, DataOffsets: [2]int64{off, off + size}}
		off += size
	}
	hb, err := json.Marshal(header)
	if err != nil {
		return fmt.Errorf("safetensors header: %w", err)
	}
	// Pad the header with spaces to 8 bytes so the data is aligned, as the
	// reference implementation does.
	for len(hb)%8 != 0 {
		hb = append(hb, ' ')
	}
	var lenb [8]byte
	binary.LittleEndian.PutUint64(lenb[:], uint64(len(hb)))
	if _, err := w.Write(lenb[:]); err != nil {
		return fmt.Errorf("write safetensors: %w", err)
	}
	if _, err := w.Write(hb); err != nil {
		return fmt.Errorf("write safetensors: %w", err)
	}
	buf := make([]byte, 0, 1<<16)
	for _, n := range names {
		for _, v := range ts[n].Data {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
			if len(buf) == cap(buf) {
				if _, err := w.Write(buf); err != nil {
					return fmt.Errorf("write safetensors: %w", err)
				}
				buf = buf[:0]
			}
		}
	}
	if _, err := w.Write(buf); err != nil {
		return fmt.Errorf("write safetensors: %w", err)
	}
	return nil
}
