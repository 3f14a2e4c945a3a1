package node

import (
	"testing"

	"github.com/gpuctl/gpuctl/modules"
)

func TestDecodeAptRepository(t *testing.T) {
	m, err := modules.New("apt_repository", map[string]any{"name": "k", "uris": "https://x.example/deb/", "suites": "/", "key_url": "https://x.example/deb/Release.key"})
	if err != nil {
		t.Fatal(err)
	}
	r := m.(*AptRepository)
	if !r.RemoveDuplicates || !r.UpdateCache || r.Name != "k" || len(r.URIs) != 1 {
		t.Fatalf("%+v", r)
	}
	if _, err := modules.New("apt_repository", map[string]any{"uris": "https://x.example/deb/", "suites": "/", "key_url": "x"}); err == nil {
		t.Fatal("missing name accepted")
	}
}
