package inventory

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestExpandLimitFiles(t *testing.T) {
	dir := t.TempDir()
	retry := filepath.Join(dir, "site.retry")
	if err := os.WriteFile(retry, []byte("gpu-2\n\n  gpu-3 \n"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.retry")
	if err := os.WriteFile(empty, []byte("\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	inv, err := Parse("t", []byte("all:\n  hosts:\n    gpu-1:\n    gpu-2:\n    gpu-3:\n    gpu-4:\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		limit   string
		want    []string
		wantErr string
	}{
		{limit: "@" + retry, want: []string{"gpu-2", "gpu-3"}},
		{limit: "@" + retry + ",!gpu-3", want: []string{"gpu-2"}},
		{limit: "@" + retry + ":gpu-4", want: []string{"gpu-2", "gpu-3", "gpu-4"}},
		{limit: "gpu-1", want: []string{"gpu-1"}},
		{limit: "@" + filepath.Join(dir, "nope.retry"), wantErr: "no such file"},
		{limit: "@" + dir, wantErr: "must name a file"},
		{limit: "@" + empty, wantErr: "lists no hosts"},
	} {
		got, err := ExpandLimitFiles(tc.limit)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: error %v, want %q", tc.limit, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.limit, err)
		}
		hosts, err := inv.Match(got)
		if err != nil {
			t.Fatalf("%s → %s: %v", tc.limit, got, err)
		}
		if names := hostNames(hosts); !slices.Equal(names, tc.want) {
			t.Errorf("%s → %q matches %v, want %v", tc.limit, got, names, tc.want)
		}
	}
}

func hostNames(hs []*Host) []string {
	var out []string
	for _, h := range hs {
		out = append(out, h.Name)
	}
	return out
}
