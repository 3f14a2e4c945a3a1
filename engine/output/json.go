package output

import (
	"encoding/json"
	"io"
	"sync"

	"github.com/gpuctl/gpuctl/engine"
)

// JSON writes one JSON object per event (JSON lines); the last line is the
// recap. Slow-task ticks are left out: they carry no result.
type JSON struct {
	enc *json.Encoder
	mu  sync.Mutex
}

// NewJSON returns a JSON-lines renderer.
func NewJSON(w io.Writer) *JSON { return &JSON{enc: json.NewEncoder(w)} }

// Event implements engine.Reporter.
func (j *JSON) Event(ev engine.Event) {
	if ev.Type == engine.EventTaskSlow {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	_ = j.enc.Encode(ev)
}
