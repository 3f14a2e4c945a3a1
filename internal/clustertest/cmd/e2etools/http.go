package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// serve answers every request with this pod's hostname, so a client can
// tell which replica behind a Service answered.
func serve(addr string) error {
	host, _ := os.Hostname()
	http.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "hello from %s\n", host)
	})
	srv := &http.Server{Addr: addr, ReadHeaderTimeout: 5 * time.Second}
	return srv.ListenAndServe()
}

// get fetches each URL, retrying for a minute (DNS and Service rules may
// still be settling when the pod starts).
func get(urls []string) error {
	if len(urls) == 0 {
		return errors.New("get: no URL")
	}
	c := &http.Client{Timeout: 3 * time.Second}
	var failed []error
	for _, u := range urls {
		deadline := time.Now().Add(60 * time.Second)
		for {
			r, err := c.Get(u)
			if err == nil {
				b, _ := io.ReadAll(r.Body)
				r.Body.Close()
				if r.StatusCode == http.StatusOK {
					fmt.Printf("OK %s %s", u, b)
					break
				}
				err = fmt.Errorf("HTTP %d", r.StatusCode)
			}
			if time.Now().After(deadline) {
				fmt.Printf("FAIL %s: %v\n", u, err)
				failed = append(failed, fmt.Errorf("%s: %w", u, err))
				break
			}
			time.Sleep(time.Second)
		}
	}
	return errors.Join(failed...)
}
