package cli

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/go-multierror"

	"github.com/gpuctl/gpuctl/engine"
)

func TestFailedRecordUpdate(t *testing.T) {
	now := time.Unix(1, 0)
	recap := &engine.Recap{Hosts: map[string]*engine.Counts{
		"ok": {OK: 3}, "bad": {Failed: 1}, "gone": {Unreachable: 1},
	}}
	hostErr := &engine.HostError{Host: "bad", Task: "install driver", Pos: "site.yml:9", Err: errors.New("boom")}
	// As the engine nests them: a play's errors inside the run's.
	runErr := func(more ...error) error {
		play := fmt.Errorf("play %q: %w", "p", multierror.Append(nil, hostErr))
		return multierror.Append(nil, append([]error{play}, more...)...)
	}
	for _, tc := range []struct {
		name    string
		err     error
		keepsOK bool // "ok" was recorded before and must stay
	}{
		{"finished", runErr(), false},
		{"play stopped", runErr(fmt.Errorf("play: %w", engine.ErrPlayStopped)), true},
		{"interrupted", runErr(context.Canceled), true},
	} {
		rec := &failedRecord{Hosts: map[string]failedHost{"ok": {Status: "failed"}, "elsewhere": {Status: "failed"}}}
		rec.update(recap, tc.err, now)
		if _, ok := rec.Hosts["ok"]; ok != tc.keepsOK {
			t.Errorf("%s: host that ran clean recorded=%v, want %v", tc.name, ok, tc.keepsOK)
		}
		if _, ok := rec.Hosts["elsewhere"]; !ok {
			t.Errorf("%s: a host this run did not touch left the record", tc.name)
		}
		if got := rec.Hosts["bad"]; got.Status != "failed" || got.Task != "install driver" || got.Pos != "site.yml:9" {
			t.Errorf("%s: bad = %+v", tc.name, got)
		}
		if got := rec.Hosts["gone"]; got.Status != "unreachable" || got.Task != "" {
			t.Errorf("%s: gone = %+v", tc.name, got)
		}
	}
}
