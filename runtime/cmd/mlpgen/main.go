// Command mlpgen writes the reference MLP (1024→4096→4096→1024, ReLU) as
// mlp.json plus mlp.safetensors, deterministically from a seed, so the
// repository carries a generator instead of 100 MB of weights.
//
//	go run ./runtime/cmd/mlpgen -out /tmp/mlp
//	gpuctl serve --model /tmp/mlp/mlp.json
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/gpuctl/gpuctl/runtime/model"
)

//go:generate go run . -out ../../../.cache/mlp

func main() {
	out := flag.String("out", "mlp", "output folder")
	seed := flag.Uint64("seed", model.ReferenceMLP.Seed, "PCG seed of the weights")
	widths := flag.String("widths", "1024,4096,4096,1024", "layer widths, input first")
	name := flag.String("name", "mlp", "model name and file base name")
	flag.Parse()
	spec := model.MLPSpec{Seed: *seed}
	for _, w := range strings.Split(*widths, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(w))
		if err != nil || n <= 0 {
			fmt.Fprintf(os.Stderr, "mlpgen: -widths %q: %q is not a positive integer\n", *widths, w)
			os.Exit(2)
		}
		spec.Widths = append(spec.Widths, n)
	}
	if len(spec.Widths) < 2 {
		fmt.Fprintln(os.Stderr, "mlpgen: -widths needs at least two widths")
		os.Exit(2)
	}
	a, ts := model.MLP(spec)
	a.Name = *name
	path, err := model.WriteFiles(*out, *name, a, ts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mlpgen:", err)
		os.Exit(1)
	}
	fmt.Println(path)
}
