package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// cniConf stands in for Flannel's CNI plugin, which the Go module proxy
// does not serve: that plugin only reads subnet.env and delegates to bridge
// with host-local IPAM, so writing that delegate configuration directly is
// what it would do. It waits for flanneld to write subnet.env, writes the
// conflist atomically and then sleeps, as a sidecar.
func cniConf(envPath, out string) error {
	var env map[string]string
	for {
		var err error
		env, err = readEnv(envPath)
		if err == nil {
			break
		}
		time.Sleep(time.Second)
	}
	data, err := conflist(env)
	if err != nil {
		return fmt.Errorf("%s: %w", envPath, err)
	}
	tmp := filepath.Join(filepath.Dir(out), ".tmp-"+filepath.Base(out))
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, out); err != nil {
		return err
	}
	fmt.Printf("wrote %s:\n%s\n", out, data)
	for {
		time.Sleep(time.Hour)
	}
}

// conflist is the bridge + host-local configuration for this node's
// Flannel subnet (FLANNEL_SUBNET is the node's gateway address/prefix).
func conflist(env map[string]string) ([]byte, error) {
	subnet, err := netip.ParsePrefix(env["FLANNEL_SUBNET"])
	if err != nil {
		return nil, fmt.Errorf("FLANNEL_SUBNET: %w", err)
	}
	mtu, err := strconv.Atoi(env["FLANNEL_MTU"])
	if err != nil {
		return nil, fmt.Errorf("FLANNEL_MTU: %w", err)
	}
	conf := map[string]any{
		"cniVersion": "0.4.0",
		"name":       "cbr0",
		"plugins": []any{
			map[string]any{
				"type": "bridge", "bridge": "cni0", "mtu": mtu, "isDefaultGateway": true, "ipMasq": false, "hairpinMode": true,
				"ipam": map[string]any{
					"type":   "host-local",
					"ranges": [][]map[string]string{{{"subnet": subnet.Masked().String(), "gateway": subnet.Addr().String()}}},
					"routes": []map[string]string{{"dst": env["FLANNEL_NETWORK"]}},
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
		},
	}
	return json.MarshalIndent(conf, "", "  ")
}

func readEnv(p string) (map[string]string, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "="); ok {
			env[k] = v
		}
	}
	return env, sc.Err()
}
