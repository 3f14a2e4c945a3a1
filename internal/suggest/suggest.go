// Package suggest finds the names a typo most likely meant, for "did you
// mean" hints in errors.
package suggest

import (
	"fmt"
	"strconv"
	"strings"
)

// Closest returns the options nearest to s by edit distance, when that
// distance is small for the length of the word: one edit per four letters,
// at least one. Two edits turn "stat" into "swap", which no one meant.
// Ties are all returned, in options' order.
func Closest(s string, options []string) []string {
	var best []string
	bestD := max(1, len(s)/4) + 1
	for _, o := range options {
		switch d := Distance(strings.ToLower(s), strings.ToLower(o)); {
		case d < bestD:
			best, bestD = []string{o}, d
		case d == bestD && best != nil:
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

// Distance is the edit distance between a and b, a swap of two adjacent
// letters counting as one edit ("whne" is one typo of "when").
func Distance(a, b string) int {
	// optimal string alignment: Levenshtein plus adjacent transpositions
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+c)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
