package yaml11

import (
	"math"
	"reflect"
	"testing"
)

// The expectations are what ansible-core's loader (PyYAML) gives for the
// same document: python3 -c 'import yaml,sys; print(yaml.safe_load(sys.stdin))'.
func TestUnmarshalReadsAsPyYAML(t *testing.T) {
	doc := `
a: yes
b: No
c: ON
d: off
e: "yes"
f: 'no'
g: 1e3
h: 1.5e3
h2: 1.5e+3
h3: .5
h4: -.inf
i: 1:30
j: -2:00:00
k: 08:00
l: 0755
m: [yes, y, n, true, False]
n: {on: on}
o: 10.0.0.1:22
p: 1_000
q: 1:60
`
	var got map[string]any
	if err := Unmarshal([]byte(doc), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"a": true, "b": false, "c": true, "d": false, "e": "yes", "f": "no",
		"g": "1e3", "h": "1.5e3", "h2": 1500.0, "h3": 0.5, "h4": math.Inf(-1), "i": 90, "j": -7200,
		// PyYAML's base-60 form needs a first digit 1-9; 08:00 stays text.
		"k": "08:00", "l": 493,
		"m": []any{true, "y", "n", true, false},
		// Keys stay names (see Fix).
		"n": map[string]any{"on": true},
		"o": "10.0.0.1:22", "p": 1000,
		// Each base-60 digit after the first is at most 59.
		"q": "1:60",
	}
	for k, w := range want {
		if !reflect.DeepEqual(got[k], w) {
			t.Errorf("%s: got %#v, want %#v", k, got[k], w)
		}
	}
}

func TestUnmarshalEmpty(t *testing.T) {
	var got map[string]any
	if err := Unmarshal([]byte("# nothing\n"), &got); err != nil || got != nil {
		t.Fatalf("got %v, %v", got, err)
	}
}
