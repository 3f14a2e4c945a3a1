package model

import "math"

// Reference computes the model in float64 with plain loops, independent of
// every backend, so tests can bound each backend's relative error.
func (m *Model) Reference(x []float32, rows int) []float64 {
	cur := make([]float64, len(x))
	for i, v := range x {
		cur[i] = float64(v)
	}
	width := m.In
	for _, l := range m.Layers {
		switch l.Kind {
		case Linear:
			next := make([]float64, rows*l.Out)
			for r := 0; r < rows; r++ {
				xr := cur[r*width : (r+1)*width]
				for o := 0; o < l.Out; o++ {
					var s float64
					wr := l.W[o*l.In : (o+1)*l.In]
					for k, w := range wr {
						s += float64(w) * xr[k]
					}
					if l.B != nil {
						s += float64(l.B[o])
					}
					next[r*l.Out+o] = s
				}
			}
			cur, width = next, l.Out
		case ReLU:
			for i, v := range cur {
				cur[i] = math.Max(v, 0)
			}
		case GELU:
			for i, v := range cur {
				if l.Approx {
					cur[i] = 0.5 * v * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(v+0.044715*v*v*v)))
				} else {
					cur[i] = 0.5 * v * (1 + math.Erf(v/math.Sqrt2))
				}
			}
		case Sigmoid:
			for i, v := range cur {
				cur[i] = 1 / (1 + math.Exp(-v))
			}
		case Tanh:
			for i, v := range cur {
				cur[i] = math.Tanh(v)
			}
		case Softmax:
			for r := 0; r < rows; r++ {
				row := cur[r*width : (r+1)*width]
				mx := math.Inf(-1)
				for _, v := range row {
					mx = math.Max(mx, v)
				}
				var s float64
				for i, v := range row {
					row[i] = math.Exp(v - mx)
					s += row[i]
				}
				for i := range row {
					row[i] /= s
				}
			}
		case LayerNorm:
			for r := 0; r < rows; r++ {
				row := cur[r*width : (r+1)*width]
				var mean, vr float64
				for _, v := range row {
					mean += v
				}
				mean /= float64(width)
				for _, v := range row {
					vr += (v - mean) * (v - mean)
				}
				vr /= float64(width)
				inv := 1 / math.Sqrt(vr+float64(l.Eps))
				for i, v := range row {
					y := (v - mean) * inv
					if l.W != nil {
						y *= float64(l.W[i])
					}
					if l.B != nil {
						y += float64(l.B[i])
					}
					row[i] = y
				}
			}
		}
	}
	return cur
}

// RelErr is ‖got − ref‖ / ‖ref‖, NaN-safe: any NaN in got gives +Inf.
func RelErr(got []float32, ref []float64) float64 {
	var num, den float64
	for i, r := range ref {
		g := float64(got[i])
		if math.IsNaN(g) || math.IsInf(g, 0) {
			return math.Inf(1)
		}
		num += (g - r) * (g - r)
		den += r * r
	}
	if den == 0 {
		return math.Sqrt(num)
	}
	return math.Sqrt(num / den)
}
