package facts

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

var (
	// User is the remote user gpuctl connects as, from the password
	// database as Ansible reads it.
	User = &Fact[Account]{Name: "user", Cmd: `id -u; id -g; id -un; getent passwd "$(id -u)"`, Parse: ParseAccount}
	// Env is the environment of the remote session (ansible_env).
	Env = &Fact[map[string]string]{Name: "env", Cmd: "env -0", Parse: ParseEnv}
	// Clock is the host's time and zone, for ansible_date_time.
	Clock = &Fact[time.Time]{Name: "date_time", Cmd: `date '+%s %N %z %Z'`, Parse: ParseClock}
)

// Account is one passwd entry.
type Account struct {
	Name  string
	UID   int
	GID   int
	Gecos string
	Dir   string
	Shell string
}

// ParseAccount reads `id -u; id -g; id -un` then the passwd line (which may
// be missing for users from a directory without NSS on the host).
func ParseAccount(b []byte) (Account, error) {
	l := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(l) < 3 {
		return Account{}, fmt.Errorf("user: want id -u, id -g, id -un, got %q", string(b))
	}
	var a Account
	var err error
	if a.UID, err = strconv.Atoi(strings.TrimSpace(l[0])); err != nil {
		return a, fmt.Errorf("user: uid: %w", err)
	}
	if a.GID, err = strconv.Atoi(strings.TrimSpace(l[1])); err != nil {
		return a, fmt.Errorf("user: gid: %w", err)
	}
	a.Name = strings.TrimSpace(l[2])
	if len(l) > 3 {
		if f := strings.Split(l[3], ":"); len(f) == 7 {
			a.Gecos, a.Dir, a.Shell = f[4], f[5], f[6]
		}
	}
	return a, nil
}

// ParseEnv reads `env -0`: NUL-separated KEY=value, values may hold
// newlines.
func ParseEnv(b []byte) (map[string]string, error) {
	m := map[string]string{}
	for _, kv := range strings.Split(string(b), "\x00") {
		kv = strings.TrimPrefix(kv, "\n")
		if k, v, ok := strings.Cut(kv, "="); ok && k != "" {
			m[k] = v
		}
	}
	return m, nil
}

// ParseClock reads `date '+%s %N %z %Z'` into a time in the host's zone.
func ParseClock(b []byte) (time.Time, error) {
	f := strings.Fields(string(b))
	if len(f) < 4 {
		return time.Time{}, fmt.Errorf("date: want epoch, nanoseconds, offset and zone, got %q", string(b))
	}
	sec, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("date: epoch: %w", err)
	}
	nsec, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("date: nanoseconds: %w", err)
	}
	off, err := time.Parse("-0700", f[2])
	if err != nil {
		return time.Time{}, fmt.Errorf("date: offset: %w", err)
	}
	_, offset := off.Zone()
	return time.Unix(sec, nsec).In(time.FixedZone(f[3], offset)), nil
}

// DateTime is ansible_date_time, with Ansible's keys (all strings).
func DateTime(t time.Time) map[string]any {
	utc := t.UTC()
	zone, _ := t.Zone()
	return map[string]any{
		"year": t.Format("2006"), "month": t.Format("01"), "day": t.Format("02"),
		"hour": t.Format("15"), "minute": t.Format("04"), "second": t.Format("05"),
		"weekday": t.Format("Monday"), "weekday_number": strconv.Itoa(int(t.Weekday())),
		"weeknumber": fmt.Sprintf("%02d", mondayWeek(t)),
		"epoch":      strconv.FormatInt(t.Unix(), 10), "epoch_int": strconv.FormatInt(t.Unix(), 10),
		"date": t.Format("2006-01-02"), "time": t.Format("15:04:05"),
		"iso8601":             utc.Format("2006-01-02T15:04:05Z"),
		"iso8601_micro":       utc.Format("2006-01-02T15:04:05.000000Z"),
		"iso8601_basic":       t.Format("20060102T150405") + fmt.Sprintf("%06d", t.Nanosecond()/1000),
		"iso8601_basic_short": t.Format("20060102T150405"),
		"tz":                  zone, "tz_dst": zone, "tz_offset": t.Format("-0700"),
	}
}

// mondayWeek is strftime's %W: the week of the year, Monday first, days
// before the first Monday in week 0.
func mondayWeek(t time.Time) int {
	yd := t.YearDay() - 1
	wd := (int(t.Weekday()) + 6) % 7 // Monday = 0
	return (yd + 7 - wd) / 7
}
