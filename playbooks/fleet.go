package playbooks

import (
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Strategies a play may name. host_pinned is Ansible's free strategy that
// keeps a worker per host; gpuctl has no workers to pin, so it is free.
const (
	StrategyLinear = "linear"
	StrategyFree   = "free"
)

var strategies = []string{StrategyLinear, StrategyFree, "host_pinned"}

// fleetPlayKey loads the play keywords that control how a play moves
// through its hosts: strategy, serial, max_fail_percentage and
// any_errors_fatal. It reports whether k is one of them.
func (l *Loader) fleetPlayKey(file string, k, v *yaml.Node, p *Play) (bool, error) {
	var err error
	switch k.Value {
	case "strategy":
		p.Strategy, err = l.strategy(file, v)
	case "serial":
		p.Serial, err = l.serial(file, v)
	case "max_fail_percentage":
		p.MaxFailPercentage, err = l.percentage(file, v)
	case "any_errors_fatal":
		p.AnyErrorsFatal, err = l.boolVal(file, v)
	default:
		return false, nil
	}
	return true, err
}

// fleetTaskKey loads the task and block keywords throttle and
// any_errors_fatal; it reports whether k is one of them.
func (l *Loader) fleetTaskKey(file string, k, v *yaml.Node, t *Task) (bool, error) {
	var err error
	switch k.Value {
	case "throttle":
		if t.Throttle, err = l.intVal(file, v); err == nil && t.Throttle < 0 {
			err = l.errf(file, v, "throttle must be 0 (no limit) or more, got %d", t.Throttle)
		}
	case "any_errors_fatal":
		t.AnyErrorsFatal, err = l.boolPtr(file, v)
	default:
		return false, nil
	}
	return true, err
}

func (l *Loader) strategy(file string, v *yaml.Node) (string, error) {
	s, err := l.str(file, v)
	if err != nil {
		return "", err
	}
	switch s {
	case StrategyLinear, StrategyFree:
		return s, nil
	case "host_pinned":
		return StrategyFree, nil
	}
	return "", l.errf(file, v, "unknown strategy %q (gpuctl knows %s)%s", s, strings.Join(strategies, ", "), suggestFrom(s, strategies))
}

// serial reads a batch size, a percentage of the play's hosts, or a list of
// them, as Ansible does; anything else is an error here rather than a
// silently unbatched rolling update.
func (l *Loader) serial(file string, v *yaml.Node) ([]string, error) {
	items, err := l.strList(file, v)
	if err != nil {
		return nil, err
	}
	for _, s := range items {
		if _, err := strconv.Atoi(strings.TrimSuffix(s, "%")); err != nil {
			return nil, l.errf(file, v, "serial %q: expected a number of hosts or a percentage such as 30%%", s)
		}
	}
	return items, nil
}

func (l *Loader) percentage(file string, v *yaml.Node) (*float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSuffix(v.Value, "%"), 64)
	if v.Kind != yaml.ScalarNode || err != nil || f < 0 || f > 100 {
		return nil, l.errf(file, v, "max_fail_percentage: expected a number from 0 to 100, got %q", v.Value)
	}
	return &f, nil
}
