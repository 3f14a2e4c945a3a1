package corpus

import (
	"fmt"
	"slices"
)

// Level is how far gpuctl gets with an item; each level includes the ones before it.
type Level string

const (
	None    Level = "none"    // does not load
	Loads   Level = "loads"   // loads: every file, module and argument is understood
	Plans   Level = "plans"   // --check on a real Debian host runs without a failure
	Applies Level = "applies" // applied on a host, then a re-run changes nothing
	Same    Level = "same"    // and the end state equals ansible-playbook's on a twin host
)

var levels = []Level{None, Loads, Plans, Applies, Same}

func (l Level) rank() int { return slices.Index(levels, l) }

// UnmarshalYAML accepts only the known levels, so a typo in the manifest is an error.
func (l *Level) UnmarshalText(b []byte) error {
	v := Level(b)
	if v.rank() < 0 {
		return fmt.Errorf("expect: %q is not one of %v", b, levels)
	}
	*l = v
	return nil
}

// verdict compares what an item reached with what the manifest expects: a regression fails,
// and so does an improvement the manifest does not record yet, so the table stays true.
func verdict(name string, got, want Level) error {
	switch {
	case got.rank() < want.rank():
		return fmt.Errorf("%s: regressed: reaches %q, the manifest expects %q", name, got, want)
	case got.rank() > want.rank():
		return fmt.Errorf("%s: improved: reaches %q, the manifest expects %q; set `expect: %s` for it in test/corpus/manifest.yaml", name, got, want, got)
	}
	return nil
}
