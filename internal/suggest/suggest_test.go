package suggest

import (
	"slices"
	"testing"
)

func TestClosestIsRelativeToLength(t *testing.T) {
	mods := []string{"swap", "shell", "command", "template", "lineinfile", "service", "copy", "file"}
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"stat", nil},               // two edits from swap: not a typo of it
		{"shel", []string{"shell"}}, // one letter missing
		{"comand", []string{"command"}},
		{"templat", []string{"template"}},
		{"lineinfle", []string{"lineinfile"}},
		{"linefile", []string{"lineinfile"}}, // two edits in ten letters
		{"servce", []string{"service"}},
		{"whne", nil}, // not in this list; see TestTransposition
		{"Copy", []string{"copy"}},
		{"sysctl", nil},
		{"xyz", nil},
	} {
		if got := Closest(tc.in, mods); !slices.Equal(got, tc.want) {
			t.Errorf("Closest(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestTranspositionIsOneEdit(t *testing.T) {
	if d := Distance("whne", "when"); d != 1 {
		t.Fatalf("Distance(whne, when) = %d, want 1", d)
	}
	if got := Closest("whne", []string{"name", "when", "tags"}); !slices.Equal(got, []string{"when"}) {
		t.Fatalf("Closest(whne) = %q", got)
	}
}
