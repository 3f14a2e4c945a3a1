// Command gpubench measures the CUDA backend against nothing but itself
// (PyTorch is measured by bench/runtime/torch_mlp_bench.py in the same
// run) and drives HTTP load at a running server. scripts/gpu-runtime.sh
// runs it on the GPU machine.
//
//	gpubench kernels -model mlp.json -batches 1,32,256,1024,4096 -precisions fp32,tf32,bf16
//	gpubench load -url http://127.0.0.1:8000/predict -conc 256 -width 1024 -dur 5s
//	gpubench sink -addr 127.0.0.1:9000 -resp 4096   # the load generator alone
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gpuctl/gpuctl/runtime/backend"
	"github.com/gpuctl/gpuctl/runtime/backend/cpu"
	"github.com/gpuctl/gpuctl/runtime/backend/cuda"
	"github.com/gpuctl/gpuctl/runtime/model"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: gpubench kernels|load|gen [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "kernels":
		err = kernels(os.Args[2:])
	case "load":
		err = load(os.Args[2:])
	case "sink":
		err = sink(os.Args[2:])
	case "gen":
		// The reference MLP files, as runtime/cmd/mlpgen writes them.
		if len(os.Args) < 3 {
			err = fmt.Errorf("usage: gpubench gen DIR")
			break
		}
		a, ts := model.MLP(model.ReferenceMLP)
		a.Name = "mlp"
		var p string
		if p, err = model.WriteFiles(os.Args[2], "mlp", a, ts); err == nil {
			fmt.Println(p)
		}
	default:
		err = fmt.Errorf("unknown subcommand %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gpubench:", err)
		os.Exit(1)
	}
}

func ints(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err == nil {
			out = append(out, n)
		}
	}
	return out
}

func randRows(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

type result struct {
	Impl      string  `json:"impl"`
	Device    string  `json:"device"`
	Precision string  `json:"precision"`
	Batch     int     `json:"batch"`
	Ms        float64 `json:"ms"`
	RowsPerS  float64 `json:"rows_per_s"`
	TFLOPs    float64 `json:"tflops"`
	Copies    bool    `json:"with_copies"`
	RelErr    float64 `json:"rel_err,omitempty"`
}

// timeIt returns the median seconds per iteration over reps repetitions,
// each long enough (≥ target) to hide timer and launch noise.
func timeIt(run func(iters int) error, target time.Duration, reps int) (float64, error) {
	for range 3 {
		if err := run(1); err != nil {
			return 0, err
		}
	}
	t := time.Now()
	if err := run(1); err != nil {
		return 0, err
	}
	one := time.Since(t)
	iters := max(1, int(target/max(one, time.Microsecond)))
	var per []float64
	for range reps {
		t := time.Now()
		if err := run(iters); err != nil {
			return 0, err
		}
		per = append(per, time.Since(t).Seconds()/float64(iters))
	}
	slices.Sort(per)
	return per[len(per)/2], nil
}

func kernels(args []string) error {
	fs := flag.NewFlagSet("kernels", flag.ExitOnError)
	modelPath := fs.String("model", "", "architecture JSON (default: generate the reference MLP)")
	batches := fs.String("batches", "1,32,256,1024,4096", "batch sizes")
	precs := fs.String("precisions", "fp32,tf32,bf16", "CUDA precisions, plus cpu for gonum")
	cpuBatches := fs.String("cpu-batches", "1,256", "batch sizes for the cpu entry")
	target := fs.Duration("target", 200*time.Millisecond, "time per repetition")
	jsonOut := fs.String("json", "", "append JSON lines here")
	paths := fs.String("paths", "lt,gemmex", "CUDA product paths: lt (cuBLASLt, fused epilogue), gemmex (cublasGemmEx + kernel), graphs (cuBLASLt replayed from CUDA graphs)")
	chunk := fs.Int("chunk", 0, "smallest pipeline chunk in rows (0: the backend's default)")
	callers := fs.Int("callers", 3, "concurrent Forward callers for the -pinned-Ncallers row (the server's --batch-workers on a GPU)")
	fs.Parse(args)
	var m *model.Model
	var err error
	if *modelPath != "" {
		if m, err = model.Load(*modelPath); err != nil {
			return err
		}
	} else {
		m = model.BuildMLP(model.ReferenceMLP)
	}
	var jw io.Writer = io.Discard
	if *jsonOut != "" {
		f, err := os.OpenFile(*jsonOut, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		jw = f
	}
	emit := func(r result) {
		b, _ := json.Marshal(r)
		fmt.Fprintln(jw, string(b))
		fmt.Printf("%-13s %-5s batch %5d  %9.3f ms  %12.0f rows/s  %7.1f TFLOP/s  copies=%v\n", r.Impl, r.Precision, r.Batch, r.Ms, r.RowsPerS, r.TFLOPs, r.Copies)
	}
	bs := ints(*batches)
	maxB := slices.Max(bs)
	rng := rand.New(rand.NewPCG(42, 1))
	check := randRows(rng, 8*m.In)
	ref := m.Reference(check, 8)
	for _, ps := range strings.Split(*precs, ",") {
		if ps == "cpu" {
			c, _ := cpu.New(m, backend.FP32)
			out := make([]float32, 8*m.Out)
			c.Forward(context.Background(), check, 8, out)
			fmt.Printf("cpu   gonum threads=%d rel_err=%.2e\n", runtime.GOMAXPROCS(0), model.RelErr(out, ref))
			for _, b := range ints(*cpuBatches) {
				x := randRows(rng, b*m.In)
				o := make([]float32, b*m.Out)
				sec, err := timeIt(func(it int) error {
					for range it {
						if err := c.Forward(context.Background(), x, b, o); err != nil {
							return err
						}
					}
					return nil
				}, *target, 3)
				if err != nil {
					return err
				}
				emit(result{Impl: "gonum", Device: "cpu", Precision: "fp32", Batch: b, Ms: sec * 1e3, RowsPerS: float64(b) / sec, TFLOPs: m.FLOPs() * float64(b) / sec / 1e12, Copies: true})
			}
			continue
		}
		p, err := backend.ParsePrecision(ps)
		if err != nil {
			return err
		}
		for _, path := range strings.Split(*paths, ",") {
			impl := "gpuctl"
			if path != "lt" {
				impl = "gpuctl-" + path
			}
			t0 := time.Now()
			c, err := cuda.New(m, p, cuda.Options{MaxRows: maxB, NoLt: path == "gemmex", Graphs: path == "graphs", ChunkRows: *chunk})
			if err != nil {
				return fmt.Errorf("cuda %s: %w", p, err)
			}
			out := make([]float32, 8*m.Out)
			for i := range out {
				out[i] = float32(math.NaN()) // poison: every output must be written
			}
			if err := c.Forward(context.Background(), check, 8, out); err != nil {
				return err
			}
			rel := model.RelErr(out, ref)
			fmt.Printf("cuda  %-5s %-6s setup %v  rel_err vs float64 reference = %.2e\n", p, path, time.Since(t0).Round(time.Millisecond), rel)
			for _, b := range bs {
				x := randRows(rng, b*m.In)
				o := make([]float32, b*m.Out)
				// Fill the device input buffer with real data (never time on zeros).
				if err := c.Forward(context.Background(), x, b, o); err != nil {
					return err
				}
				sec, err := timeIt(func(it int) error { return c.Resident(b, it) }, *target, 5)
				if err != nil {
					return err
				}
				emit(result{Impl: impl, Device: "cuda", Precision: string(p), Batch: b, Ms: sec * 1e3, RowsPerS: float64(b) / sec, TFLOPs: m.FLOPs() * float64(b) / sec / 1e12, RelErr: rel})
				sec, err = timeIt(func(it int) error {
					for range it {
						if err := c.Forward(context.Background(), x, b, o); err != nil {
							return err
						}
					}
					return nil
				}, *target, 3)
				if err != nil {
					return err
				}
				emit(result{Impl: impl, Device: "cuda", Precision: string(p), Batch: b, Ms: sec * 1e3, RowsPerS: float64(b) / sec, TFLOPs: m.FLOPs() * float64(b) / sec / 1e12, Copies: true, RelErr: rel})
				if err := pinnedAndBound(c, m, x, b, *callers, *target, impl, string(p), emit); err != nil {
					return err
				}
			}
			lt, fb, why := c.Paths()
			fmt.Printf("cuda  %-5s %-6s products on cuBLASLt: %d, on GemmEx: %d %s\n", p, path, lt, fb, why)
			c.Close()
		}
	}
	return nil
}

// pinnedAndBound times Forward on AllocHost buffers (no staging copy) and
// the PCIe bound: copies alone, both directions at once.
func pinnedAndBound(c *cuda.CUDA, m *model.Model, x []float32, b, callers int, target time.Duration, impl, prec string, emit func(result)) error {
	px, err := c.AllocHost(len(x))
	if err != nil {
		return err
	}
	defer c.FreeHost(px)
	po, err := c.AllocHost(b * m.Out)
	if err != nil {
		return err
	}
	defer c.FreeHost(po)
	copy(px, x)
	sec, err := timeIt(func(it int) error {
		for range it {
			if err := c.Forward(context.Background(), px, b, po); err != nil {
				return err
			}
		}
		return nil
	}, target, 3)
	if err != nil {
		return err
	}
	emit(result{Impl: impl + "-pinned", Device: "cuda", Precision: prec, Batch: b, Ms: sec * 1e3, RowsPerS: float64(b) / sec, TFLOPs: m.FLOPs() * float64(b) / sec / 1e12, Copies: true})
	// Several callers, as the server's batch workers: one enqueues while
	// another's pass is on the GPU. Each has its own pinned buffers.
	bufsets := [][2][]float32{{px, po}}
	for len(bufsets) < callers {
		pxk, err := c.AllocHost(len(x))
		if err != nil {
			return err
		}
		defer c.FreeHost(pxk)
		pok, err := c.AllocHost(b * m.Out)
		if err != nil {
			return err
		}
		defer c.FreeHost(pok)
		copy(pxk, x)
		bufsets = append(bufsets, [2][]float32{pxk, pok})
	}
	sec, err = timeIt(func(it int) error {
		var wg sync.WaitGroup
		errs := make([]error, callers)
		for k, bufs := range bufsets {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range it {
					if errs[k] = c.Forward(context.Background(), bufs[0], b, bufs[1]); errs[k] != nil {
						return
					}
				}
			}()
		}
		wg.Wait()
		return errors.Join(errs...)
	}, target, 3)
	if err != nil {
		return err
	}
	// Each iteration moved one batch per caller.
	k := float64(callers)
	emit(result{Impl: fmt.Sprintf("%s-pinned-%dcallers", impl, callers), Device: "cuda", Precision: prec, Batch: b, Ms: sec / k * 1e3, RowsPerS: k * float64(b) / sec, TFLOPs: k * m.FLOPs() * float64(b) / sec / 1e12, Copies: true})
	bound, err := timeIt(func(it int) error { return c.Copies(b, it, cuda.CopyBoth) }, target, 3)
	if err != nil {
		return err
	}
	emit(result{Impl: "pcie-bound", Device: "cuda", Precision: prec, Batch: b, Ms: bound * 1e3, RowsPerS: float64(b) / bound, Copies: true})
	return nil
}
