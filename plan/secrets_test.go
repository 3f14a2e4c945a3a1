package plan

import (
	"fmt"
	"sync"
	"testing"
)

func TestSecretsSetSemanticsAndConcurrency(t *testing.T) {
	var s Secrets
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				s.Add("become-pw")
				s.Add(fmt.Sprintf("host-pw-%d", i%4))
				_ = s.Redact("x become-pw y")
			}
		}()
	}
	wg.Wait()
	if n := s.Len(); n != 5 {
		t.Fatalf("Len = %d, want 5 distinct secrets (adding a value again must not grow the set)", n)
	}
	if got := s.Redact("a become-pw b host-pw-3"); got != "a ******** b ********" {
		t.Fatalf("Redact = %q", got)
	}
	s.Add("ab") // too short to mask safely
	if s.Len() != 5 {
		t.Fatal("a 2-byte secret was recorded")
	}
}
