// Command e2etools is the one static binary inside the end-to-end cluster's
// images (see test/cluster/build.sh). It is FROM-scratch friendly: no shell,
// no libc, no NSS, so name resolution goes through Go's own resolver.
//
//	e2etools pause              the pod sandbox (registry.k8s.io/pause)
//	e2etools cniconf            Flannel sidecar: write a bridge + host-local CNI config from /run/flannel/subnet.env
//	e2etools serve [ADDR]       HTTP server answering "hello from HOSTNAME" (default :8080)
//	e2etools get URL...         GET each URL until it answers (60 s), print "OK URL BODY"
//
// Invoked as /pause it behaves as `e2etools pause`.
package main

import (
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	args := os.Args[1:]
	cmd := filepath.Base(os.Args[0])
	if cmd != "pause" {
		if len(args) == 0 {
			fmt.Fprintln(os.Stderr, "usage: e2etools pause|cniconf|serve [ADDR]|get URL...")
			os.Exit(2)
		}
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "pause":
		pause()
	case "cniconf":
		err = cniConf("/run/flannel/subnet.env", "/etc/cni/net.d/10-flannel.conflist")
	case "serve":
		addr := ":8080"
		if len(args) > 0 {
			addr = args[0]
		}
		err = serve(addr)
	case "get":
		err = get(args)
	default:
		err = fmt.Errorf("unknown command %q", cmd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2etools:", err)
		os.Exit(1)
	}
}
