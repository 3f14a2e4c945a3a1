package template_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/inventory"
	"github.com/gpuctl/gpuctl/template"
)

// inventory_hostnames takes Ansible host patterns and lists the hosts in
// the order the pattern selects them, as ansible-core's get_hosts does.
func TestInventoryHostnamesLookup(t *testing.T) {
	inv, err := inventory.Parse("inv.ini", []byte("[www]\nw1\nw2\n[db]\nd1\nd2\n[gpu]\nd2\nw2\n"))
	if err != nil {
		t.Fatal(err)
	}
	e := template.New()
	e.SetHostPatterns(inv)
	vars := map[string]any{"pat": "db"}
	for expr, want := range map[string]any{
		"query('inventory_hostnames', 'all')":                     []any{"w1", "w2", "d1", "d2"},
		"query('inventory_hostnames', 'all:!www')":                []any{"d1", "d2"},
		"query('ansible.builtin.inventory_hostnames', 'gpu:&db')": []any{"d2"},
		"query('inventory_hostnames', 'db,www[0]')":               []any{"d1", "d2", "w1"},
		"query('inventory_hostnames', pat, 'w2')":                 []any{"d1", "d2", "w2"},
		"query('inventory_hostnames', '~w.*')":                    []any{"w1", "w2"},
		"query('inventory_hostnames', 'nosuch')":                  []any{},
		"lookup('inventory_hostnames', 'gpu')":                    "d2,w2",
		"lookup('inventory_hostnames', 'db:!gpu')":                "d1",
		"lookup('inventory_hostnames', 'www', wantlist=True)":     []any{"w1", "w2"},
		"query('inventory_hostnames', '~(')":                      []any{}, // Ansible swallows the error
		"query('inventory_hostnames', '~w(')":                     []any{},
		"query('inventory_hostnames', 'w[')":                      []any{},
		// ansible-core's split_host_pattern drops a trailing '[': '~'
		// is left, which matches every host.
		"query('inventory_hostnames', '~[')": []any{"w1", "w2", "d1", "d2"},
	} {
		got, err := e.Eval(expr, vars)
		if err != nil {
			t.Errorf("%s: %v", expr, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %#v, want %#v", expr, got, want)
		}
	}
	// with_inventory_hostnames goes through Lookup.
	got, err := e.Lookup("inventory_hostnames", []any{"all:!db"}, vars)
	if err != nil || !reflect.DeepEqual(got, []any{"w1", "w2"}) {
		t.Errorf("Lookup = %v, %v", got, err)
	}
	// The lookup reads the inventory as it is now: add_host shows at once.
	if _, err := inv.AddHost("n1", []string{"gpu"}, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.Eval("query('inventory_hostnames', 'gpu')", vars); !reflect.DeepEqual(got, []any{"d2", "w2", "n1"}) {
		t.Errorf("after add_host: %v", got)
	}
}

func TestInventoryHostnamesWithoutInventory(t *testing.T) {
	_, err := template.New().Eval("query('inventory_hostnames', 'all')", map[string]any{})
	if err == nil || !strings.Contains(err.Error(), "inventory") {
		t.Errorf("err %v", err)
	}
}
