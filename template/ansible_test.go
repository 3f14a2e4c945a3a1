package template

import (
	"reflect"
	"testing"
)

// Expressions the bundled playbooks rely on.
func TestPlaybookExpressions(t *testing.T) {
	e := New()
	vars := map[string]any{
		"groups":   map[string]any{"control_plane": []any{"a"}, "workers": []any{"b", "c"}},
		"hostvars": map[string]any{"a": map[string]any{"gpu_present": false}, "b": map[string]any{"gpu_present": true}, "c": map[string]any{}},
		"out":      "kubeadm join 10.0.0.1:6443 --token abc.def --discovery-token-ca-cert-hash sha256:00 \n",
	}
	cases := map[string]any{
		"{{ groups['gpu'] | default(groups['control_plane'] + groups['workers']) }}":               []any{"a", "b", "c"},
		"{{ ['a', 'b', 'c'] | map('extract', hostvars, 'gpu_present') | select | list | length }}": 1,
		"{{ 'b' | extract(hostvars, 'gpu_present') }}":                                             true,
		"{{ (out | split(' '))[2] }}":                                                              "10.0.0.1:6443",
		"{{ (out | split(' '))[6] | trim }}":                                                       "sha256:00",
		"{{ groups['workers'] | default([]) | length > 0 }}":                                       true,
		"{{ 'control-plane' if 'a' in groups['control_plane'] | default([]) else 'worker' }}":      "control-plane",
		"{{ [{'key': 'gpu-only'}] if groups['workers'] | length > 1 else [] }}":                    []any{map[string]any{"key": "gpu-only"}},
	}
	for in, want := range cases {
		got, err := e.Render(in, vars)
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v, want %#v", in, got, want)
		}
	}
}
