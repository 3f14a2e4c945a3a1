package plan

import (
	"slices"
	"sync"
)

// Secrets is the set of values that must never leave the process in clear:
// become passwords, secret-tagged arguments, vault values. Hosts add to it
// while other hosts render their results, so it is safe for concurrent use,
// and adding a value twice keeps one copy (a become task per host per task
// would otherwise grow it without bound).
type Secrets struct {
	mu   sync.RWMutex
	vals []string
}

// Add records s; values shorter than 3 bytes are not masked (they would
// mask every occurrence of common letters) and are ignored.
func (s *Secrets) Add(v string) {
	if len(v) < 3 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.Contains(s.vals, v) {
		s.vals = append(s.vals, v)
	}
}

// Len is the number of distinct secrets recorded.
func (s *Secrets) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.vals)
}

// Values returns a snapshot, for Diff.Masked and WriteText.
func (s *Secrets) Values() []string {
	if s == nil {
		return nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.vals)
}

// Redact masks every recorded secret in v.
func (s *Secrets) Redact(v string) string { return Redact(v, s.Values()) }
