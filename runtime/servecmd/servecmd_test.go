package servecmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gpuctl/gpuctl/runtime/backend"
	"github.com/gpuctl/gpuctl/runtime/device"
	"github.com/gpuctl/gpuctl/runtime/model"
	"github.com/gpuctl/gpuctl/runtime/server"
)

func TestSelectAuto(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	be, info, err := Select(log, model.Seed(), "auto", backend.FP32, 0, 256)
	if err != nil {
		t.Fatalf("auto must never fail: %v", err)
	}
	defer be.Close()
	d := be.Device()
	t.Logf("auto chose %s (%s): %s", d.Kind, d.Name, info.Reason)
	t.Logf("log:\n%s", logs.String())
	if !strings.Contains(logs.String(), "using the") {
		t.Fatal("no log line says which path was chosen")
	}
	if device.Detect().Usable() && d.Kind != "cuda" {
		t.Errorf("GPU present but auto chose %s: %s", d.Kind, info.Reason)
	}
	// The seed model answers the same on any device.
	out := make([]float32, 1)
	if err := be.Forward(context.Background(), []float32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 1, out); err != nil {
		t.Fatal(err)
	}
	if out[0] != -2.625 {
		t.Fatalf("seed model on %s: %v, want -2.625", d.Kind, out[0])
	}
}

func TestDeviceCUDAWithoutGPU(t *testing.T) {
	if device.Detect().Usable() {
		t.Skip("a GPU is present")
	}
	_, _, err := Select(slog.New(slog.NewTextHandler(io.Discard, nil)), model.Seed(), "cuda", backend.FP32, 0, 256)
	if err == nil || !strings.Contains(err.Error(), "--device cuda: no usable GPU") {
		t.Fatalf("want a start error, got %v", err)
	}
}

func TestFlagValidation(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--device", "tpu"}, `--device "tpu"`},
		{[]string{"--precision", "fp8"}, "precision"},
		{[]string{"--device", "cpu", "--precision", "bf16"}, "needs the GPU"},
		{[]string{"--max-batch", "0"}, "max batch rows"},
		{[]string{"--batching", "sometimes"}, "want auto, on or off"},
		{[]string{"--model", "/nonexistent/m.json"}, "no such file"},
	} {
		cmd := NewCommand()
		cmd.SetArgs(append(tc.args, "--addr", "127.0.0.1:0", "--log-level", "error"))
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		err := cmd.Execute()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.want)
		}
	}
}

// The whole command: start, answer, stop on context end (as on SIGTERM).
func TestServeCommand(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := NewCommand()
	cmd.SetArgs([]string{"--addr", addr, "--log-level", "warn"})
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	var resp *http.Response
	for i := 0; i < 100; i++ {
		resp, err = http.Post("http://"+addr+"/predict", "application/json", strings.NewReader("[0,1,2,3,4,5,6,7,8,9]"))
		if err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "{\"prediction\":[-2.625]}\n" {
		t.Fatalf("predict: %s", b)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
}

func TestBatchingAuto(t *testing.T) {
	mlp := model.BuildMLP(model.MLPSpec{Widths: []int{512, 1024, 512}, Seed: 1})
	for _, tc := range []struct {
		flag, dev string
		m         *model.Model
		want      bool
	}{
		{"auto", "cpu", model.Seed(), false}, {"auto", "cuda", model.Seed(), true}, {"auto", "cpu", mlp, true},
		{"on", "cpu", model.Seed(), true}, {"off", "cuda", mlp, false}, {"false", "cuda", mlp, false},
	} {
		if got := batching(tc.flag, tc.dev, tc.m); got != tc.want {
			t.Errorf("batching(%s, %s, %s) = %v", tc.flag, tc.dev, tc.m.Name, got)
		}
	}
}

// A model from files: mlpgen's layout, served on the CPU, answers the
// same as the float64 reference.
func TestServeModelFromFiles(t *testing.T) {
	a, ts := model.MLP(model.MLPSpec{Widths: []int{8, 32, 3}, Seed: 4})
	a.Name = "small"
	path, err := model.WriteFiles(t.TempDir(), "small", a, ts)
	if err != nil {
		t.Fatal(err)
	}
	m, err := LoadModel(path)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := NewCommand()
	cmd.SetArgs([]string{"--addr", addr, "--model", path, "--device", "cpu", "--log-level", "warn"})
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	body := "[[1,2,3,4,5,6,7,8],[0,0,0,0,0,0,0,0]]"
	var resp *http.Response
	for i := 0; i < 100; i++ {
		if resp, err = http.Post("http://"+addr+"/predict", "application/json", strings.NewReader(body)); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ Prediction [][]float64 }
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ref := m.Reference([]float32{1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0}, 2)
	if len(got.Prediction) != 2 || len(got.Prediction[0]) != 3 {
		t.Fatalf("prediction shape: %v", got.Prediction)
	}
	for r := 0; r < 2; r++ {
		for j := 0; j < 3; j++ {
			if d := got.Prediction[r][j] - ref[r*3+j]; d > 1e-5 || d < -1e-5 {
				t.Fatalf("row %d output %d: %v, reference %v", r, j, got.Prediction[r][j], ref[r*3+j])
			}
		}
	}
	meta, err := http.Get("http://" + addr + "/v2/models/small")
	if err != nil || meta.StatusCode != 200 {
		t.Fatalf("v2 metadata: %v %v", err, meta)
	}
	meta.Body.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// Item 4: the soft memory limit comes from GOMEMLIMIT, the flag, or 90%
// of the cgroup's memory.max, in that order.
func TestMemoryLimit(t *testing.T) {
	root := t.TempDir()
	write := func(rel, s string) {
		p := filepath.Join(root, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("proc/self/cgroup", "0::/kubepods/pod1/ctr\n")
	write("sys/fs/cgroup/kubepods/pod1/ctr/memory.max", "max\n")
	write("sys/fs/cgroup/kubepods/pod1/memory.max", "1073741824\n")
	write("sys/fs/cgroup/kubepods/memory.max", "4294967296\n")
	for _, tc := range []struct {
		flag, env string
		root      string
		want      int64
		source    string
	}{
		{"auto", "", root, 1 << 30 * 9 / 10, "cgroup"}, // the pod's limit, the tightest on the path
		{"auto", "", t.TempDir(), 0, "none"},
		{"512MiB", "", root, 512 << 20, "flag"},
		{"2GiB", "", root, 2 << 30, "flag"},
		{"off", "", root, 0, "off"},
		{"auto", "1GiB", root, 0, "GOMEMLIMIT"},
	} {
		got, src, err := memoryLimit(tc.flag, tc.env, tc.root)
		if err != nil || got != tc.want || src != tc.source {
			t.Errorf("memoryLimit(%q, env %q) = %d %s %v; want %d %s", tc.flag, tc.env, got, src, err, tc.want, tc.source)
		}
	}
	v1 := t.TempDir()
	os.MkdirAll(filepath.Join(v1, "sys/fs/cgroup/memory"), 0o755)
	os.WriteFile(filepath.Join(v1, "sys/fs/cgroup/memory/memory.limit_in_bytes"), []byte("2147483648\n"), 0o644)
	if got, src, _ := memoryLimit("auto", "", v1); got != 2<<30*9/10 || src != "cgroup" {
		t.Errorf("cgroup v1: %d %s", got, src)
	}
	for _, bad := range []string{"lots", "-1GiB", "1.5GiB", "10GB"} {
		if _, _, err := memoryLimit(bad, "", root); err == nil {
			t.Errorf("--memory-limit %q accepted", bad)
		}
	}
}

// Item 4 and 5 through the command: the flag sets the runtime's limit, the
// first signal drains (with a long delay), the second stops at once.
func TestSecondSignalForcesExit(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(old)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := NewCommand()
	cmd.SetArgs([]string{"--addr", addr, "--log-level", "error", "--drain-delay", "1m", "--memory-limit", "768MiB"})
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(context.Background()) }()
	for i := 0; ; i++ {
		resp, err := http.Get("http://" + addr + "/v2/health/live")
		if err == nil {
			resp.Body.Close()
			break
		}
		if i == 100 {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := debug.SetMemoryLimit(-1); got != 768<<20 {
		t.Errorf("soft memory limit %d; want 768 MiB", got)
	}
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	time.Sleep(200 * time.Millisecond)
	resp, err := http.Get("http://" + addr + "/v2/health/ready")
	if err != nil || resp.StatusCode != 503 {
		t.Fatalf("readiness after the first signal: %v %v", err, resp)
	}
	resp.Body.Close()
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	select {
	case err := <-done:
		if !errors.Is(err, server.ErrForced) {
			t.Errorf("after a second signal: %v; want ErrForced", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a second signal did not stop the drain")
	}
}

// Item 4: GOGC stays sane for a large model and cheap for a small one.
func TestGCPercent(t *testing.T) {
	seed := int64(model.Seed().Params()) * 4
	mlp := int64(model.BuildMLP(model.ReferenceMLP).Params()) * 4
	if got := gcPercent(seed); got != 400 {
		t.Errorf("seed model: GOGC %d; want 400", got)
	}
	if got := gcPercent(mlp); got != 100 {
		t.Errorf("reference MLP (%d MiB): GOGC %d; want 100, so the heap target is not 5× the weights", mlp>>20, got)
	}
}
