package template

import (
	"strings"
	"testing"
)

func TestUnknown(t *testing.T) {
	e := New()
	cases := []struct{ src, want string }{
		{"{{ x | to_json }}", ""},
		{"{{ x | ansible.builtin.combine(y) | to_nice_yaml }}", ""},
		{"{% for i in x | dict2items %}{{ i.key is version('1', '<') }}{% endfor %}", ""},
		{"{{ lookup('env', 'HOME') ~ query('ansible.builtin.fileglob', '*') | join }}", ""},
		{"{{ x | to_jsn }}", `unknown filter "to_jsn" (did you mean "to_json"?)`},
		{"{{ x | frobnicate }}", `unknown filter "frobnicate"`},
		{"{% if x is versoin('1', '<') %}y{% endif %}", `unknown test "versoin" (did you mean "version"?)`},
		{"{{ lookup('hashi_vault', 'secret/x') }}", `unknown lookup plugin "hashi_vault"`},
		{"{{ q('filegob', '*') }}", `unknown lookup plugin "filegob" (did you mean "fileglob"?)`},
		{"{% set y = x | nope %}{{ y }}", `unknown filter "nope"`},
	}
	for _, c := range cases {
		err := e.Unknown(c.src)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.src, err)
		case c.want != "" && (err == nil || !strings.HasPrefix(err.Error(), c.want) || strings.Contains(c.want, "(") != strings.Contains(err.Error(), "did you mean")):
			t.Errorf("%s: got %v, want %s", c.src, err, c.want)
		}
	}
}
