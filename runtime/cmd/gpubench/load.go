package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"
)

// The load generator speaks HTTP/1.1 over raw keep-alive connections: the
// request's bytes are built once and written as they are, and an answer
// is read by its status line and Content-Length. net/http's client costs
// about as much CPU per request as the server, so at 100k+ requests a
// second on a shared machine it, not the server, would be measured.
// `gpubench sink` answers like the server with no work at all, which
// gives the generator's own ceiling on the same machine.

// load runs conc connections, each sending requests of rows rows back to
// back, for dur.
func load(args []string) error {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	target := fs.String("url", "http://127.0.0.1:8000/predict", "endpoint; a /v2/.../infer URL sends the binary tensor extension")
	conc := fs.Int("conc", 256, "concurrent connections")
	width := fs.Int("width", 1024, "numbers per row")
	rows := fs.Int("rows", 1, "rows per request")
	dur := fs.Duration("dur", 5*time.Second, "duration")
	label := fs.String("label", "", "label for the result line")
	jsonOut := fs.String("json", "", "append a JSON line here")
	fs.Parse(args)
	u, err := url.Parse(*target)
	if err != nil {
		return err
	}
	req := buildRequest(u, *width, *rows)
	var mu sync.Mutex
	var lats []float64
	var errs, done int
	deadline := time.Now().Add(*dur)
	var wg sync.WaitGroup
	start := time.Now()
	for range *conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			my, myErr := client(u.Host, req, deadline)
			mu.Lock()
			lats = append(lats, my...)
			errs += myErr
			done += len(my)
			mu.Unlock()
		}()
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	slices.Sort(lats)
	pct := func(p float64) float64 {
		if len(lats) == 0 {
			return math.NaN()
		}
		return lats[min(len(lats)-1, int(p*float64(len(lats))))] * 1e3
	}
	rps := float64(done) / el
	res := map[string]any{"label": *label, "url": *target, "conc": *conc, "rows": *rows, "requests_per_s": rps,
		"rows_per_s": rps * float64(*rows), "p50_ms": pct(0.5), "p99_ms": pct(0.99), "errors": errs, "requests": done}
	fmt.Printf("load %-34s conc %4d rows %3d: %10.0f rows/s %9.0f req/s  p50 %7.2f ms  p99 %7.2f ms  errors %d\n",
		*label, *conc, *rows, rps*float64(*rows), rps, pct(0.5), pct(0.99), errs)
	if *jsonOut != "" {
		f, err := os.OpenFile(*jsonOut, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		b, _ := json.Marshal(res)
		fmt.Fprintln(f, string(b))
	}
	return nil
}

// buildRequest is the whole request, headers and body: the binary tensor
// extension for a /v2/ URL (binary answer asked for), else /predict JSON
// (one flat row, or a list of rows).
func buildRequest(u *url.URL, width, rows int) []byte {
	rng := rand.New(rand.NewPCG(7, 7))
	vals := make([]float32, width*rows)
	for i := range vals {
		vals[i] = float32(rng.NormFloat64())
	}
	var body []byte
	hdr := "Content-Type: application/json\r\n"
	if bytes.Contains([]byte(u.Path), []byte("/v2/")) {
		js := fmt.Sprintf(`{"inputs":[{"name":"input","shape":[%d,%d],"datatype":"FP32","parameters":{"binary_data_size":%d}}],"outputs":[{"name":"output","parameters":{"binary_data":true}}]}`, rows, width, 4*len(vals))
		body = []byte(js)
		for _, v := range vals {
			body = binary.LittleEndian.AppendUint32(body, math.Float32bits(v))
		}
		hdr = fmt.Sprintf("Content-Type: application/octet-stream\r\nInference-Header-Content-Length: %d\r\n", len(js))
	} else {
		body = appendRowsJSON(nil, vals, width, rows)
	}
	req := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\n%sContent-Length: %d\r\n\r\n", u.RequestURI(), u.Host, hdr, len(body))
	return append([]byte(req), body...)
}

func appendRowsJSON(b []byte, vals []float32, width, rows int) []byte {
	if rows > 1 {
		b = append(b, '[')
	}
	for r := range rows {
		if r > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		for i, v := range vals[r*width : (r+1)*width] {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendFloat(b, float64(v), 'g', -1, 32)
		}
		b = append(b, ']')
	}
	if rows > 1 {
		b = append(b, ']')
	}
	return b
}

// client sends req back to back on one keep-alive connection until the
// deadline, reconnecting after an error or a Connection: close, and
// returns the latencies of the 200 answers and the count of the others.
func client(addr string, req []byte, deadline time.Time) (lats []float64, errs int) {
	lats = make([]float64, 0, 4096)
	var conn net.Conn
	var br *bufio.Reader
	for time.Now().Before(deadline) {
		if conn == nil {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				errs++
				time.Sleep(10 * time.Millisecond)
				continue
			}
			conn, br = c, bufio.NewReaderSize(c, 64<<10)
		}
		conn.SetDeadline(time.Now().Add(30 * time.Second))
		t := time.Now()
		code, keep, err := roundTrip(conn, br, req)
		if err != nil || !keep {
			conn.Close()
			conn = nil
		}
		if err != nil || code != 200 {
			errs++
			continue
		}
		lats = append(lats, time.Since(t).Seconds())
	}
	if conn != nil {
		conn.Close()
	}
	return lats, errs
}

// roundTrip writes req and reads one answer, discarding its body.
func roundTrip(conn net.Conn, br *bufio.Reader, req []byte) (code int, keep bool, err error) {
	if _, err := conn.Write(req); err != nil {
		return 0, false, err
	}
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, false, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, false, fmt.Errorf("bad status line %q", line)
	}
	code, _ = strconv.Atoi(string(line[9:12]))
	length, keep := -1, true
	for {
		h, err := br.ReadSlice('\n')
		if err != nil {
			return 0, false, err
		}
		h = bytes.TrimRight(h, "\r\n")
		if len(h) == 0 {
			break
		}
		k, v, _ := bytes.Cut(h, []byte(":"))
		v = bytes.TrimSpace(v)
		switch {
		case bytes.EqualFold(k, []byte("Content-Length")):
			length, _ = strconv.Atoi(string(v))
		case bytes.EqualFold(k, []byte("Connection")) && bytes.EqualFold(v, []byte("close")):
			keep = false
		}
	}
	if length < 0 {
		return code, false, fmt.Errorf("answer without Content-Length")
	}
	_, err = br.Discard(length)
	return code, keep, err
}

// sink answers every request with a fixed 200 of resp bytes after reading
// its body: the cheapest possible server, to measure the generator alone.
func sink(args []string) error {
	fs := flag.NewFlagSet("sink", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:9000", "listen address")
	resp := fs.Int("resp", 4096, "answer body bytes")
	fs.Parse(args)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	ans := append([]byte(fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", *resp)), make([]byte, *resp)...)
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go serveSink(c, ans)
	}
}

func serveSink(c net.Conn, ans []byte) {
	defer c.Close()
	br := bufio.NewReaderSize(c, 64<<10)
	for {
		length := 0
		for {
			h, err := br.ReadSlice('\n')
			if err != nil {
				return
			}
			h = bytes.TrimRight(h, "\r\n")
			if len(h) == 0 {
				break
			}
			if k, v, ok := bytes.Cut(h, []byte(":")); ok && bytes.EqualFold(k, []byte("Content-Length")) {
				length, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
			}
		}
		if _, err := br.Discard(length); err != nil {
			return
		}
		if _, err := c.Write(ans); err != nil {
			return
		}
	}
}
