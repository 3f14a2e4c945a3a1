package kubeclient

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestWaitTimeoutExplains(t *testing.T) {
	n := 0
	err := Wait(context.Background(), func(context.Context) (bool, string, error) {
		n++
		return false, "0/1 ready", nil
	}, WaitOptions{What: "thing", Timeout: 50 * time.Millisecond, Interval: 10 * time.Millisecond,
		Explain: func(context.Context) string { return "  because reasons" }})
	if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "waiting for thing (last seen: 0/1 ready)\n  because reasons") {
		t.Fatalf("got %v", err)
	}
	if n < 2 {
		t.Errorf("polled %d times", n)
	}
}

func TestWaitDoneAndFails(t *testing.T) {
	n := 0
	err := Wait(context.Background(), func(context.Context) (bool, string, error) {
		n++
		return n == 3, "", nil
	}, WaitOptions{What: "x", Timeout: time.Minute, Interval: time.Millisecond})
	if err != nil || n != 3 {
		t.Fatalf("err %v after %d", err, n)
	}
	boom := errors.New("boom")
	err = Wait(context.Background(), func(context.Context) (bool, string, error) { return false, "", boom },
		WaitOptions{What: "x", Timeout: time.Minute})
	if !errors.Is(err, boom) {
		t.Fatalf("got %v", err)
	}
}
