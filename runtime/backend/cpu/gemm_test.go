package cpu

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gpuctl/gpuctl/runtime/model"
)

// The packed kernel on shapes that leave partial row blocks and panels.
func TestGemmPackedEdges(t *testing.T) {
	if !haveKernel {
		t.Skip("no AVX2+FMA on this CPU: the packed kernel is not used")
	}
	r := rand.New(rand.NewPCG(8, 8))
	for _, sh := range [][3]int{{1, 37, 50}, {1, 1024, 16}, {2, 7, 40}, {3, 9, 3}, {5, 16, 16}, {6, 1, 16}, {7, 64, 33}, {13, 100, 17}, {64, 300, 130}, {13, 1100, 50}, {256, 520, 64}} {
		rows, in, out := sh[0], sh[1], sh[2]
		x, w := randInput(r, rows*in), randInput(r, out*in)
		dst := make([]float32, rows*out)
		for i := range dst {
			dst[i] = float32(math.NaN())
		}
		for _, wd := range []bool{false, wide} {
			pl := newPool(2)
			gemmPacked(pl, packW(w, in, out, wd), x, packA(pl, nil, x, rows, in), rows, dst, epilogue{})
			pl.stop()
			for i := 0; i < rows; i++ {
				for o := 0; o < out; o++ {
					var s float64
					for k := 0; k < in; k++ {
						s += float64(x[i*in+k]) * float64(w[o*in+k])
					}
					if d := math.Abs(float64(dst[i*out+o]) - s); !(d <= 1e-4*(1+math.Abs(s))) {
						t.Fatalf("%v wide=%v: dst[%d][%d] = %v, want %v", sh, wd, i, o, dst[i*out+o], s)
					}
				}
			}
		}
	}
}

// A packed linear whose ReLU is the model's last layer writes the answer
// straight into the caller's output.
func TestPackedLinearThenFinalReLU(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 9))
	ts := model.Tensors{
		"w": {Name: "w", Shape: []int{256, 128}, Data: randInput(r, 256*128)},
		"b": {Name: "b", Shape: []int{256}, Data: randInput(r, 256)},
	}
	m, err := model.Build(model.Arch{Inputs: 128, Layers: []model.ArchLayer{{Type: model.Linear, Weight: "w", Bias: "b"}, {Type: model.ReLU}}}, ts)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := New(m, "")
	for _, rows := range []int{1, 9} {
		x := randInput(r, rows*128)
		out := make([]float32, rows*256)
		if err := c.Forward(context.Background(), x, rows, out); err != nil {
			t.Fatal(err)
		}
		if e := model.RelErr(out, m.Reference(x, rows)); e > 1e-5 {
			t.Fatalf("rows %d: relative error %g", rows, e)
		}
	}
}
