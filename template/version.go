package template

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
)

var (
	looseParts = regexp.MustCompile(`(\d+|[a-zA-Z]+|\.)`)
	strictVer  = regexp.MustCompile(`^(\d+)\.(\d+)(\.(\d+))?([ab](\d+))?$`)
)

// versionTest is Ansible's version test (and version_compare filter):
// LooseVersion by default, StrictVersion with strict=true.
func versionTest(in any, args []any, kw map[string]any) (bool, error) {
	if len(args) < 1 {
		return false, errors.New("needs a version to compare with")
	}
	op, _ := argOr(args, kw, 1, "operator", "==").(string)
	strict := Truthy(argOr(args, kw, 2, "strict", false))
	if vt, ok := kw["version_type"].(string); ok && vt == "strict" {
		strict = true
	}
	a, b := toString(in), toString(args[0])
	if strict {
		for _, v := range []string{a, b} {
			if !strictVer.MatchString(v) {
				return false, fmt.Errorf("invalid version number %q", v)
			}
		}
	}
	c := compareLoose(a, b)
	switch op {
	case "<", "lt":
		return c < 0, nil
	case "<=", "le":
		return c <= 0, nil
	case ">", "gt":
		return c > 0, nil
	case ">=", "ge":
		return c >= 0, nil
	case "==", "=", "eq":
		return c == 0, nil
	case "!=", "<>", "ne":
		return c != 0, nil
	}
	return false, fmt.Errorf("invalid operator %q", op)
}

// compareLoose compares as distutils' LooseVersion: numbers numerically,
// words as strings, the shorter prefix first.
func compareLoose(a, b string) int {
	pa, pb := looseComponents(a), looseComponents(b)
	for i := 0; i < len(pa) && i < len(pb); i++ {
		x, xerr := strconv.Atoi(pa[i])
		y, yerr := strconv.Atoi(pb[i])
		switch {
		case xerr == nil && yerr == nil && x != y:
			if x < y {
				return -1
			}
			return 1
		case (xerr == nil) != (yerr == nil):
			if xerr == nil { // a number sorts before a word
				return -1
			}
			return 1
		case xerr != nil && pa[i] != pb[i]:
			if pa[i] < pb[i] {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(pa) < len(pb):
		return -1
	case len(pa) > len(pb):
		return 1
	}
	return 0
}

func looseComponents(v string) []string {
	var out []string
	for _, p := range looseParts.FindAllString(v, -1) {
		if p != "." {
			out = append(out, p)
		}
	}
	return out
}
