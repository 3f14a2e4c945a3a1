package modules_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/moduletest"
	"github.com/gpuctl/gpuctl/plan"
)

type planA struct{ n int }
type planB struct{}

func TestStateOf(t *testing.T) {
	h := moduletest.Local()
	if p, err := modules.StateOf[*planA](h, "m", plan.Diff{State: &planA{n: 1}}); err != nil || p.n != 1 {
		t.Fatalf("the plan Check left: %v %v", p, err)
	}
	for name, d := range map[string]plan.Diff{
		"no plan":     {},
		"other type":  {State: &planB{}},
		"nil pointer": {State: (*planA)(nil)},
	} {
		_, err := modules.StateOf[*planA](h, "some_module", d)
		if !errors.Is(err, modules.ErrNoCheckState) {
			t.Errorf("%s: err %v, want ErrNoCheckState", name, err)
			continue
		}
		for _, want := range []string{"host " + h.Name(), "some_module", "without this module's Check", "*modules_test.planA"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: %q lacks %q", name, err, want)
			}
		}
	}
}
