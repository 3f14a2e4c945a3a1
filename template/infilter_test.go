package template

import "testing"

func TestInFiltersRewrite(t *testing.T) {
	for src, want := range map[string]string{
		"{{ a not in b | default([]) }}":                 "{{ a not in (b | default([])) }}",
		"{{ a in b.c['d'](1) | f(2, ')') | g and h }}":   "{{ a in (b.c['d'](1) | f(2, ')') | g) and h }}",
		"{% for x in items | sort %}{{ x }}{% endfor %}": "{% for x in (items | sort) %}{{ x }}{% endfor %}",
		"{{ 'in x | y' }} in z | w":                      "{{ 'in x | y' }} in z | w",
		"{{ a.in | f }} {{ x in y }}":                    "{{ a.in | f }} {{ x in y }}",
		"{{ a in [1, 2] | list }}":                       "{{ a in ([1, 2] | list) }}",
		"{{ 'x' in (y | f) }}":                           "{{ 'x' in (y | f) }}",
		"{{ index | f }}":                                "{{ index | f }}",
	} {
		if got := inFilters(src); got != want {
			t.Errorf("inFilters(%q)\n  = %q\nwant %q", src, got, want)
		}
	}
}
