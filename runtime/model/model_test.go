package model

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSafetensorsRoundTrip(t *testing.T) {
	a, ts := MLP(MLPSpec{Widths: []int{8, 16, 4}, Seed: 7})
	var buf bytes.Buffer
	if err := WriteSafetensors(&buf, ts, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	got, err := ParseSafetensors(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	for n, want := range ts {
		g := got[n]
		if g == nil || !equalShape(g.Shape, want.Shape) || len(g.Data) != len(want.Data) {
			t.Fatalf("tensor %s: got %+v", n, g)
		}
		for i := range g.Data {
			if g.Data[i] != want.Data[i] {
				t.Fatalf("tensor %s[%d]: %v != %v", n, i, g.Data[i], want.Data[i])
			}
		}
	}
	if _, err := Build(a, got); err != nil {
		t.Fatal(err)
	}
}

// header builds a safetensors file from a raw JSON header and data.
func header(js string, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint64(len(js)))
	b.WriteString(js)
	b.Write(data)
	return b.Bytes()
}

func TestParseSafetensorsDtypes(t *testing.T) {
	data := []byte{}
	data = binary.LittleEndian.AppendUint16(data, 0x3c00) // f16 1.0
	data = binary.LittleEndian.AppendUint16(data, 0xc000) // f16 -2.0
	data = binary.LittleEndian.AppendUint16(data, Float32ToBF16(0.5))
	data = binary.LittleEndian.AppendUint64(data, math.Float64bits(3.25))
	ts, err := ParseSafetensors(header(`{"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"BF16","shape":[1],"data_offsets":[4,6]},"d":{"dtype":"F64","shape":[],"data_offsets":[6,14]}}`, data))
	if err != nil {
		t.Fatal(err)
	}
	if ts["h"].Data[0] != 1 || ts["h"].Data[1] != -2 || ts["b"].Data[0] != 0.5 || ts["d"].Data[0] != 3.25 {
		t.Fatalf("decoded %v %v %v", ts["h"].Data, ts["b"].Data, ts["d"].Data)
	}
}

func TestParseSafetensorsErrors(t *testing.T) {
	for _, tc := range []struct{ name, js, want string }{
		{"dtype", `{"x":{"dtype":"I8","shape":[1],"data_offsets":[0,1]}}`, "dtype I8"},
		{"range", `{"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`, "outside"},
		{"size", `{"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, "needs 12 bytes"},
		{"overlap", `{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, "overlap"},
		{"json", `{"x":`, "not JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSafetensors(header(tc.js, make([]byte, 8)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to mention %q", err, tc.want)
			}
		})
	}
	if _, err := ParseSafetensors([]byte{1, 2}); err == nil {
		t.Fatal("short file accepted")
	}
	if _, err := ParseSafetensors(header("", nil)[:8]); err == nil {
		t.Fatal("empty header accepted")
	}
}

func FuzzParseSafetensors(f *testing.F) {
	var buf bytes.Buffer
	_, ts := MLP(MLPSpec{Widths: []int{2, 3}, Seed: 1})
	WriteSafetensors(&buf, ts, nil)
	f.Add(buf.Bytes())
	f.Add(header(`{"x":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}}`, []byte{0, 0}))
	f.Fuzz(func(t *testing.T, b []byte) {
		ts, err := ParseSafetensors(b)
		if err != nil {
			return
		}
		for _, x := range ts {
			n := 1
			for _, d := range x.Shape {
				n *= d
			}
			if n != len(x.Data) {
				t.Fatalf("tensor %s: shape %v but %d values", x.Name, x.Shape, len(x.Data))
			}
		}
	})
}

func TestBuildErrors(t *testing.T) {
	base := func() (Arch, Tensors) { return MLP(MLPSpec{Widths: []int{4, 3, 2}, Seed: 1}) }
	for _, tc := range []struct {
		name   string
		modify func(*Arch, Tensors)
		want   string
	}{
		{"missing", func(a *Arch, ts Tensors) { delete(ts, "net.0.bias") }, `tensor "net.0.bias" is missing`},
		{"unused", func(a *Arch, ts Tensors) { ts["extra"] = &Tensor{Name: "extra", Shape: []int{1}, Data: []float32{1}} }, "not used by any layer: extra"},
		{"inputs", func(a *Arch, ts Tensors) { a.Inputs = 5 }, "takes 4 features, but the previous layer gives 5"},
		{"bias shape", func(a *Arch, ts Tensors) { ts["net.0.bias"].Shape = []int{2} }, "expected [3]"},
		{"type", func(a *Arch, ts Tensors) { a.Layers[1].Type = "swish" }, `unknown type "swish"`},
		{"declared", func(a *Arch, ts Tensors) { a.Layers[0].Out = 9 }, "architecture says 0→9"},
		{"weights on relu", func(a *Arch, ts Tensors) { a.Layers[1].Weight = "net.0.weight" }, "takes no weights"},
		{"no layers", func(a *Arch, ts Tensors) { a.Layers = nil }, "no layers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, ts := base()
			tc.modify(&a, ts)
			_, err := Build(a, ts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestLoadFromFiles(t *testing.T) {
	dir := t.TempDir()
	a, ts := MLP(MLPSpec{Widths: []int{4, 3, 2}, Seed: 1})
	f, err := os.Create(filepath.Join(dir, "m.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteSafetensors(f, ts, nil); err != nil {
		t.Fatal(err)
	}
	f.Close()
	js := `{"name":"m","inputs":4,"layers":[{"type":"linear","weight":"net.0.weight","bias":"net.0.bias"},{"type":"gelu","approximate":"tanh"},{"type":"linear","weight":"net.2.weight","bias":"net.2.bias"},{"type":"softmax"}]}`
	os.WriteFile(filepath.Join(dir, "m.json"), []byte(js), 0o644)
	m, err := Load(filepath.Join(dir, "m.json"))
	if err != nil {
		t.Fatal(err)
	}
	if m.In != 4 || m.Out != 2 || len(m.Layers) != 4 || !m.Layers[1].Approx {
		t.Fatalf("loaded %+v", m)
	}
	_ = a
	os.WriteFile(filepath.Join(dir, "bad.json"), []byte(`{"inputs":4,"layerz":[]}`), 0o644)
	if _, err := Load(filepath.Join(dir, "bad.json")); err == nil || !strings.Contains(err.Error(), "layerz") {
		t.Fatalf("unknown key: %v", err)
	}
}

func TestSeedModel(t *testing.T) {
	m := Seed()
	x := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	got := m.Reference(x, 1)
	// Σ (i/16)·(−1)^(i+1)·i for i=1..10, plus 0.5.
	want := 0.5
	for i := 1; i <= 10; i++ {
		s := 1.0
		if i%2 == 0 {
			s = -1
		}
		want += s * float64(i) / 16 * float64(i)
	}
	if math.Abs(got[0]-want) > 1e-12 {
		t.Fatalf("seed model: %v, want %v", got[0], want)
	}
}

func TestBF16Rounding(t *testing.T) {
	for _, tc := range []struct {
		in   float32
		want uint16
	}{{1, 0x3f80}, {1.00390625, 0x3f80}, {1.01171875, 0x3f82}, {-2, 0xc000}} {
		if got := Float32ToBF16(tc.in); got != tc.want {
			t.Errorf("bf16(%v) = %#x, want %#x", tc.in, got, tc.want)
		}
	}
	if !math.IsNaN(float64(BF16ToFloat32(Float32ToBF16(float32(math.NaN()))))) {
		t.Error("NaN lost")
	}
}
