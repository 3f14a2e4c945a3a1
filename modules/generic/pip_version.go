package generic

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// pyVersion is a PEP 440 version, enough to order the versions pip lists:
// epoch, release, pre-release, post-release and dev-release; a local
// label (+...) is kept only for ==.
type pyVersion struct {
	epoch   int
	release []int
	pre     [2]int // kind (-1 a, -2 b, -3 rc; 0 none) and number
	post    int    // -1 none
	dev     int    // -1 none
	local   string
}

var pyVersionRE = regexp.MustCompile(`^v?(?:(\d+)!)?(\d+(?:\.\d+)*)` +
	`(?:[-_.]?(a|alpha|b|beta|c|rc|pre|preview)[-_.]?(\d*))?` +
	`(?:-(\d+)|[-_.]?(post|rev|r)[-_.]?(\d*))?` +
	`(?:[-_.]?(dev)[-_.]?(\d*))?(?:\+([a-z0-9]+(?:[-_.][a-z0-9]+)*))?$`)

func parsePyVersion(s string) (pyVersion, error) {
	m := pyVersionRE.FindStringSubmatch(strings.ToLower(strings.TrimSpace(s)))
	if m == nil {
		return pyVersion{}, fmt.Errorf("invalid version %q", s)
	}
	v := pyVersion{post: -1, dev: -1, local: m[10]}
	v.epoch, _ = strconv.Atoi(m[1])
	for _, p := range strings.Split(m[2], ".") {
		n, _ := strconv.Atoi(p)
		v.release = append(v.release, n)
	}
	if m[3] != "" {
		v.pre[0] = map[string]int{"a": -3, "alpha": -3, "b": -2, "beta": -2, "c": -1, "rc": -1, "pre": -1, "preview": -1}[m[3]]
		v.pre[1], _ = strconv.Atoi(m[4])
	}
	switch {
	case m[5] != "":
		v.post, _ = strconv.Atoi(m[5])
	case m[6] != "":
		v.post, _ = strconv.Atoi(m[7])
	}
	if m[8] != "" {
		v.dev, _ = strconv.Atoi(m[9])
	}
	return v, nil
}

// cmp orders versions as PEP 440 does (local labels aside).
func (v pyVersion) cmp(o pyVersion) int {
	if c := v.epoch - o.epoch; c != 0 {
		return sign(c)
	}
	for i := 0; i < max(len(v.release), len(o.release)); i++ {
		a, b := at(v.release, i), at(o.release, i)
		if a != b {
			return sign(a - b)
		}
	}
	return cmpKeys(v.key(), o.key())
}

// key is the suffix order: dev-only releases before pre-releases before
// the release, then post-releases.
func (v pyVersion) key() [5]int {
	pre := [2]int{1, 0} // no pre-release sorts after any
	switch {
	case v.pre[0] != 0:
		pre = v.pre
	case v.post < 0 && v.dev >= 0:
		pre = [2]int{-4, 0} // 1.0.dev1 < 1.0a1
	}
	dev := v.dev
	if dev < 0 {
		dev = 1 << 30
	}
	return [5]int{pre[0], pre[1], v.post, dev, 0}
}

func cmpKeys(a, b [5]int) int {
	for i := range a {
		if a[i] != b[i] {
			return sign(a[i] - b[i])
		}
	}
	return 0
}

func at(s []int, i int) int {
	if i < len(s) {
		return s[i]
	}
	return 0
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

// pySpec is one clause of a specifier: ">=1.2", "==1.4.*", "~=2.2".
type pySpec struct {
	op, ver string
}

var pySpecRE = regexp.MustCompile(`^\s*(===|==|!=|~=|<=|>=|<|>)\s*(\S+)\s*$`)

func parsePySpecs(s string) ([]pySpec, error) {
	var out []pySpec
	for _, part := range strings.Split(s, ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		m := pySpecRE.FindStringSubmatch(part)
		if m == nil {
			return nil, fmt.Errorf("invalid version specifier %q", strings.TrimSpace(part))
		}
		if m[1] != "===" {
			if _, err := parsePyVersion(strings.TrimSuffix(m[2], ".*")); err != nil {
				return nil, err
			}
		}
		out = append(out, pySpec{m[1], m[2]})
	}
	return out, nil
}

// satisfied reports whether version v meets every clause, pre-releases
// included (Ansible asks with prereleases=True).
func pySatisfied(specs []pySpec, v string) bool {
	have, err := parsePyVersion(v)
	for _, s := range specs {
		if err != nil && s.op != "===" {
			return false
		}
		if !s.match(have, v) {
			return false
		}
	}
	return true
}

func (s pySpec) match(have pyVersion, raw string) bool {
	if s.op == "===" {
		return strings.EqualFold(raw, s.ver)
	}
	if prefix, ok := strings.CutSuffix(s.ver, ".*"); ok {
		p, _ := parsePyVersion(prefix)
		eq := have.epoch == p.epoch
		for i := range p.release {
			eq = eq && at(have.release, i) == p.release[i]
		}
		return eq == (s.op == "==")
	}
	want, _ := parsePyVersion(s.ver)
	c := have.cmp(want)
	switch s.op {
	case "==":
		return c == 0 && (want.local == "" || want.local == have.local)
	case "!=":
		return c != 0 || (want.local != "" && want.local != have.local)
	case ">=":
		return c >= 0
	case "<=":
		return c <= 0
	case ">":
		return c > 0
	case "<":
		return c < 0
	case "~=":
		if c < 0 || len(want.release) < 2 {
			return false
		}
		for i := range len(want.release) - 1 {
			if at(have.release, i) != want.release[i] {
				return false
			}
		}
		return true
	}
	return false
}
