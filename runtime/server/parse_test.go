package server

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

// fastFloat must agree with strconv bit for bit wherever it answers.
func TestFastFloatMatchesStrconv(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	cases := []string{"0", "-0", "1", "-1", "0.1", "0.30000000000000004", "123456789012345", "1234567890123456",
		"1e22", "1e23", "1e-22", "9007199254740993", "0.000001", "3.4028235e38", "1.17549435e-38", "01", "1.", ".5", "1e", "-"}
	for range 20000 {
		var s string
		switch r.IntN(4) {
		case 0:
			s = strconv.FormatFloat(r.NormFloat64(), 'g', -1, 64)
		case 1:
			s = strconv.FormatFloat(float64(float32(r.NormFloat64()*1000)), 'g', -1, 32)
		case 2:
			s = strconv.FormatFloat(r.Float64()*math.Pow(10, float64(r.IntN(60)-30)), 'e', r.IntN(17), 64)
		default:
			s = strconv.FormatFloat(r.Float64()*100, 'f', r.IntN(8), 64)
		}
		cases = append(cases, s)
	}
	answered := 0
	for _, s := range cases {
		got, ok := fastFloat([]byte(s))
		if !ok {
			continue
		}
		answered++
		want, err := strconv.ParseFloat(s, 64)
		if err != nil || !validJSONNumber([]byte(s)) {
			t.Fatalf("fastFloat accepted %q, which is not a JSON number", s)
		}
		if math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("fastFloat(%q) = %v, strconv %v", s, got, want)
		}
	}
	if answered < len(cases)/3 {
		t.Fatalf("fast path answered only %d of %d", answered, len(cases))
	}
}

func BenchmarkParseRow1024(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	body := []byte{'['}
	for i := range 1024 {
		if i > 0 {
			body = append(body, ',')
		}
		body = strconv.AppendFloat(body, float64(float32(r.NormFloat64())), 'g', -1, 32)
	}
	body = append(body, ']')
	dst := make([]float32, 0, 1024)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		parseRows(body, 1024, dst[:0], 1)
	}
}
