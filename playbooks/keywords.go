package playbooks

import (
	"slices"

	"gopkg.in/yaml.v3"

	"github.com/gpuctl/gpuctl/template"
)

// TemplatedKeywords are the task keywords whose value may be a template,
// rendered per host when the task runs ("{{ apt_retries }}"), as Ansible
// allows. A literal value is read into the typed field at load.
var TemplatedKeywords = []string{"retries", "delay", "become", "become_user", "no_log", "ignore_errors", "run_once", "throttle", "check_mode", "delegate_facts",
	"async", "poll", "ignore_unreachable"}

// templatedKeyword keeps a templated value of one of TemplatedKeywords in
// Task.Keywords; it reports whether k was such a keyword with a template.
// Its syntax and plugins are checked now, its value when the task runs.
func (l *Loader) templatedKeyword(file string, k, v *yaml.Node, t *Task) (bool, error) {
	if v.Kind != yaml.ScalarNode || !template.IsTemplate(v.Value) || !slices.Contains(TemplatedKeywords, k.Value) {
		return false, nil
	}
	if _, err := l.tpl.Refs(v.Value); err != nil {
		return true, l.errf(file, v, "%s: %v", k.Value, err)
	}
	if err := l.tpl.Unknown(v.Value); err != nil {
		return true, l.errf(file, v, "%s: %v", k.Value, err)
	}
	if t.Keywords == nil {
		t.Keywords = map[string]string{}
	}
	t.Keywords[k.Value] = v.Value
	return true, nil
}
