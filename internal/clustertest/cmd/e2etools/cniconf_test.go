package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func TestConflist(t *testing.T) {
	p := filepath.Join(t.TempDir(), "subnet.env")
	if err := os.WriteFile(p, []byte("FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.1.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env, err := readEnv(p)
	if err != nil {
		t.Fatal(err)
	}
	data, err := conflist(env)
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Plugins []struct {
			Type string
			MTU  int
			IPAM struct {
				Ranges [][]map[string]string
				Routes []map[string]string
			}
		}
	}
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	b := c.Plugins[0]
	if b.Type != "bridge" || b.MTU != 1450 || b.IPAM.Ranges[0][0]["subnet"] != "10.244.1.0/24" ||
		b.IPAM.Ranges[0][0]["gateway"] != "10.244.1.1" || b.IPAM.Routes[0]["dst"] != "10.244.0.0/16" || c.Plugins[1].Type != "portmap" {
		t.Fatalf("%s", data)
	}
	if _, err := conflist(map[string]string{"FLANNEL_SUBNET": "x"}); err == nil {
		t.Fatal("bad subnet accepted")
	}
}
