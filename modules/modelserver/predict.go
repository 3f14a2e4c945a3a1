package modelserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gpuctl/gpuctl/conn"
)

// httpVia is an HTTP client whose connections are opened from the host
// (an SSH direct-tcpip channel for SSH hosts), so the server never has to
// be reachable from the controller.
func httpVia(c conn.Conn, addr string) *http.Client {
	return &http.Client{
		Timeout: 20 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return c.Dial(ctx, "tcp", addr)
			},
			DisableKeepAlives: true,
		},
	}
}

// predict sends the seed's request (one row of `in` numbers to POST
// /predict) and checks that the answer is {"prediction": [out numbers]}.
// It returns a one-line summary with the device the server reports.
func predict(ctx context.Context, c conn.Conn, addr string, in, out int) (string, error) {
	hc := httpVia(c, addr)
	row := make([]float64, in)
	for i := range row {
		row[i] = float64(i) / 10
	}
	body, _ := json.Marshal(row)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/predict", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("POST /predict: %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	var ans struct {
		Prediction []float64 `json:"prediction"`
	}
	if err := json.Unmarshal(b, &ans); err != nil {
		return "", fmt.Errorf("POST /predict answered %q, not {\"prediction\": [numbers]}: %w", truncate(string(b)), err)
	}
	if len(ans.Prediction) != out {
		return "", fmt.Errorf("POST /predict answered %d numbers for one row of %d; the model has %d outputs: %s", len(ans.Prediction), in, out, truncate(string(b)))
	}
	summary := fmt.Sprintf("POST /predict %d numbers -> %s", in, truncate(strings.TrimSpace(string(b))))
	if dev := device(ctx, hc, addr); dev != "" {
		summary += " (" + dev + ")"
	}
	return summary, nil
}

// device reads GET / for the device the server chose.
func device(ctx context.Context, hc *http.Client, addr string) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/", nil)
	if err != nil {
		return ""
	}
	resp, err := hc.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var root struct {
		GPUAvailable bool `json:"gpu_available"`
	}
	if json.NewDecoder(resp.Body).Decode(&root) != nil {
		return ""
	}
	return "gpu_available=" + strconv.FormatBool(root.GPUAvailable)
}

// waitReady polls GET /v2/health/ready until it answers 200.
func waitReady(ctx context.Context, c conn.Conn, addr string, timeout time.Duration) error {
	hc := httpVia(c, addr)
	hc.Timeout = 5 * time.Second
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/v2/health/ready", nil)
		resp, err := hc.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %s (last: %s)", timeout, last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
}

func truncate(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}
