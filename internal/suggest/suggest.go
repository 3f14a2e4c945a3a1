// Package suggest finds the names a typo most likely meant, for "did you
// mean" hints in errors.
package suggest

import (
	"fmt"
	"strconv"
	"strings"
)

// Closest returns the options nearest to s by edit distance, when that
// distance is at most 2; ties are all returned, in options' order.
func Closest(s string, options []string) []string {
	var best []string
	bestD := 3
	for _, o := range options {
		switch d := Distance(s, o); {
		case d < bestD:
			best, bestD = []string{o}, d
		case d == bestD:
			best = append(best, o)
		}
	}
	return best
}

// Hint formats Closest as ` (did you mean "a" or "b"?)`, or "" when none.
func Hint(s string, options []string) string {
	best := Closest(s, options)
	if len(best) == 0 {
		return ""
	}
	q := make([]string, len(best))
	for i, b := range best {
		q[i] = strconv.Quote(b)
	}
	return fmt.Sprintf(" (did you mean %s?)", strings.Join(q, " or "))
}

// Distance is the Levenshtein distance between a and b.
func Distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev = cur
	}
	return prev[len(b)]
}
