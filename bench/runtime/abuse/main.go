// Command abuse runs issue 13's attacks against gpuctl serve binaries, one
// after the other, for a fixed time each, and prints the server's peak RSS
// and an ordinary client's p50/p99 during each attack, then /predict
// throughput on the seed model. Only loopback targets: it starts the
// servers itself on 127.0.0.1.
//
//	go run ./bench/runtime/abuse -bin before=/tmp/serve-main -bin after=/tmp/serve-new -model /tmp/mlp/mlp.json
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type binFlag []string

func (b *binFlag) String() string     { return strings.Join(*b, ",") }
func (b *binFlag) Set(v string) error { *b = append(*b, v); return nil }

func main() {
	var bins binFlag
	flag.Var(&bins, "bin", "name=path of a server binary (repeat)")
	model := flag.String("model", "", "model for the attacks (empty: seed)")
	dur := flag.Duration("d", 10*time.Second, "time per attack")
	rounds := flag.Int("rounds", 2, "throughput rounds per binary, interleaved")
	only := flag.String("attacks", "", "comma-separated attacks to run (default all)")
	flag.Parse()
	fmt.Printf("| attack | binary | peak RSS MiB | normal p50 ms | normal p99 ms | normal ok/sent | attack answers |\n|---|---|---|---|---|---|---|\n")
	for _, a := range attacks {
		if *only != "" && !slices.Contains(strings.Split(*only, ","), a.name) {
			continue
		}
		for _, b := range bins {
			name, path, _ := strings.Cut(b, "=")
			res, err := runAttack(path, *model, a, *dur)
			if err != nil {
				fmt.Printf("| %s | %s | error: %v |\n", a.name, name, err)
				continue
			}
			fmt.Printf("| %s | %s | %d | %.1f | %.1f | %d/%d | %s |\n", a.name, name, res.peakRSS>>20, res.p50, res.p99, res.ok, res.sent, res.codes)
		}
	}
	fmt.Printf("\n| binary | round | /predict req/s (seed, 64 connections) |\n|---|---|---|\n")
	for r := range *rounds {
		for _, b := range bins {
			name, path, _ := strings.Cut(b, "=")
			rps, err := throughput(path, *dur)
			if err != nil {
				fmt.Printf("| %s | %d | error: %v |\n", name, r, err)
				continue
			}
			fmt.Printf("| %s | %d | %.0f |\n", name, r, rps)
		}
	}
}

type server struct {
	cmd  *exec.Cmd
	base string
	in   int
}

func start(bin, model string, extra ...string) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	args := append([]string{"--addr", addr, "--device", "cpu", "--log-level", "error"}, extra...)
	if model != "" {
		args = append(args, "--model", model)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, base: "http://" + addr}
	for i := 0; i < 600; i++ {
		resp, err := http.Get(s.base + "/")
		if err == nil {
			var root struct {
				Model struct{ Inputs int } `json:"model"`
			}
			json.NewDecoder(resp.Body).Decode(&root)
			resp.Body.Close()
			s.in = root.Model.Inputs
			return s, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.stop()
	return nil, fmt.Errorf("%s did not start", bin)
}

func (s *server) stop() {
	s.cmd.Process.Kill()
	s.cmd.Wait()
}

func rss(pid int) int64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

type result struct {
	peakRSS       int64
	p50, p99      float64
	ok, sent      int
	codes         string
	invalidJSON   int64
	attackAnswers map[int]int
}

type attack struct {
	name string
	conc int
	// hit sends one attack request (or holds one connection) until ctx
	// ends; it returns the status code, 0 for a transport error.
	hit func(ctx context.Context, s *server, c *http.Client) int
}

func row(in int, v string) string {
	return "[" + strings.TrimSuffix(strings.Repeat(v+",", in), ",") + "]"
}

// genReader yields n bytes of "1," without holding them.
type genReader struct{ left int64 }

func (g *genReader) Read(p []byte) (int, error) {
	if g.left <= 0 {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), g.left))
	for i := range n {
		p[i] = "1,"[i%2]
	}
	g.left -= int64(n)
	return n, nil
}

func post(ctx context.Context, c *http.Client, url, ct string, body io.Reader, length int64) int {
	req, _ := http.NewRequestWithContext(ctx, "POST", url, body)
	req.ContentLength = length
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	return resp.StatusCode
}

var attacks = []attack{
	{"v2-huge-shape", 128, func(ctx context.Context, s *server, c *http.Client) int {
		body := fmt.Sprintf(`{"inputs":[{"name":"input","shape":[4096,%d],"datatype":"FP32","data":[1]}]}`, s.in)
		return post(ctx, c, s.base+"/v2/models/"+modelName(s)+"/infer", "application/json", strings.NewReader(body), int64(len(body)))
	}},
	{"63MB-bodies", 8, func(ctx context.Context, s *server, c *http.Client) int {
		return post(ctx, c, s.base+"/predict", "application/json", &genReader{63 << 20}, 63<<20)
	}},
	{"100MB-chunked", 8, func(ctx context.Context, s *server, c *http.Client) int {
		return post(ctx, c, s.base+"/predict", "application/json", &genReader{100 << 20}, -1)
	}},
	{"overflow-output", 16, func(ctx context.Context, s *server, c *http.Client) int {
		v := make([]string, s.in)
		for i := range v {
			v[i] = "3.4e38"
			if i%2 == 1 {
				v[i] = "-3.4e38"
			}
		}
		req, _ := http.NewRequestWithContext(ctx, "POST", s.base+"/predict", strings.NewReader("["+strings.Join(v, ",")+"]"))
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			return 0
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !json.Valid(b) {
			return -resp.StatusCode // negative: invalid JSON
		}
		return resp.StatusCode
	}},
	{"idle-conns-5000", 5000, func(ctx context.Context, s *server, c *http.Client) int {
		conn, err := net.Dial("tcp", strings.TrimPrefix(s.base, "http://"))
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			return 0
		}
		defer conn.Close()
		conn.Write([]byte("POST /predict HTTP/1.1\r\nHost: localhost\r\n"))
		<-ctx.Done()
		return 1
	}},
	{"slow-body-500", 500, func(ctx context.Context, s *server, c *http.Client) int {
		conn, err := net.Dial("tcp", strings.TrimPrefix(s.base, "http://"))
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			return 0
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST /predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n[")
		for ctx.Err() == nil {
			if _, err := conn.Write([]byte("1,")); err != nil {
				break
			}
			time.Sleep(time.Second)
		}
		b := make([]byte, 12)
		conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, _ := io.ReadFull(conn, b)
		code, _ := strconv.Atoi(strings.TrimPrefix(string(b[:n]), "HTTP/1.1 "))
		return code
	}},
}

func modelName(s *server) string {
	resp, err := http.Get(s.base + "/")
	if err != nil {
		return "model"
	}
	defer resp.Body.Close()
	var root struct {
		Model struct{ Name string } `json:"model"`
	}
	json.NewDecoder(resp.Body).Decode(&root)
	return root.Model.Name
}

func runAttack(bin, model string, a attack, d time.Duration) (*result, error) {
	s, err := start(bin, model)
	if err != nil {
		return nil, err
	}
	defer s.stop()
	res := &result{attackAnswers: map[int]int{}}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var peak atomic.Int64
	go func() {
		for ctx.Err() == nil {
			peak.Store(max(peak.Load(), rss(s.cmd.Process.Pid)))
			time.Sleep(20 * time.Millisecond)
		}
	}()
	var mu sync.Mutex
	var wg sync.WaitGroup
	attacker := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: a.conc, MaxConnsPerHost: a.conc}, Timeout: 30 * time.Second}
	for range a.conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				code := a.hit(ctx, s, attacker)
				if ctx.Err() != nil && code == 0 {
					return
				}
				mu.Lock()
				res.attackAnswers[code]++
				mu.Unlock()
			}
		}()
	}
	// The ordinary client: one row at a time on its own connection, with a
	// pause between requests, bounded by the attack's time.
	normal := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}, Timeout: 30 * time.Second}
	good := row(s.in, "0.5")
	var lat []float64
	time.Sleep(200 * time.Millisecond)
	for ctx.Err() == nil {
		t0 := time.Now()
		res.sent++
		if code := post(context.Background(), normal, s.base+"/predict", "application/json", strings.NewReader(good), int64(len(good))); code == 200 {
			res.ok++
		}
		lat = append(lat, float64(time.Since(t0).Microseconds())/1000)
		time.Sleep(20 * time.Millisecond)
	}
	wg.Wait()
	res.peakRSS = max(peak.Load(), rss(s.cmd.Process.Pid))
	slices.Sort(lat)
	if len(lat) > 0 {
		res.p50, res.p99 = lat[len(lat)/2], lat[min(len(lat)-1, len(lat)*99/100)]
	}
	var keys []int
	for k := range res.attackAnswers {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		label := strconv.Itoa(k)
		switch {
		case k == 0:
			label = "conn-error"
		case k < 0:
			label = strconv.Itoa(-k) + "(invalid JSON)"
		case k == 1:
			label = "held"
		}
		parts = append(parts, fmt.Sprintf("%s×%d", label, res.attackAnswers[k]))
	}
	res.codes = strings.Join(parts, " ")
	return res, nil
}

// throughput is /predict req/s on the seed model with 64 keep-alive
// connections for d.
func throughput(bin string, d time.Duration) (float64, error) {
	s, err := start(bin, "")
	if err != nil {
		return 0, err
	}
	defer s.stop()
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}}
	body := []byte(row(s.in, "0.5"))
	var n, bad atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if post(context.Background(), c, s.base+"/predict", "application/json", bytes.NewReader(body), int64(len(body))) == 200 {
					n.Add(1)
				} else {
					bad.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if bad.Load() > 0 {
		return 0, fmt.Errorf("%d failed requests", bad.Load())
	}
	return float64(n.Load()) / d.Seconds(), nil
}
