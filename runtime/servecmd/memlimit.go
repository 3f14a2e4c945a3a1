package servecmd

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// cgroupShare is the part of a container's memory limit given to the Go
// heap as its soft limit: the rest covers stacks, the runtime, cgo (CUDA)
// and the page cache of the model file.
const cgroupShare = 0.9

// memoryLimit picks the soft memory limit (debug.SetMemoryLimit's, with
// GOMEMLIMIT's semantics). GOMEMLIMIT in the environment wins: the runtime
// applied it at start. Then --memory-limit ("auto", "off", or a size such
// as 1536MiB), where auto takes 90% of the cgroup's memory.max. It returns
// 0 for no limit, and a word saying where the limit came from.
func memoryLimit(flag, env string, cgroupRoot string) (int64, string, error) {
	if env != "" {
		return 0, "GOMEMLIMIT", nil
	}
	switch flag {
	case "off", "0":
		return 0, "off", nil
	case "", "auto":
		if max, ok := cgroupMemoryMax(cgroupRoot); ok {
			return int64(float64(max) * cgroupShare), "cgroup", nil
		}
		return 0, "none", nil
	}
	n, err := parseSize(flag)
	if err != nil {
		return 0, "", fmt.Errorf("--memory-limit %q: %w", flag, err)
	}
	return n, "flag", nil
}

// parseSize reads GOMEMLIMIT's syntax: an integer with an optional B,
// KiB, MiB, GiB or TiB suffix.
func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("want a positive size such as 2GiB, 1536MiB or bytes, off, or auto")
	}
	return n * mult, nil
}

// cgroupMemoryMax finds the memory limit of this process's cgroup: v2's
// memory.max along the path in /proc/self/cgroup (the smallest limit of
// the cgroup and its parents), else v1's memory.limit_in_bytes.
func cgroupMemoryMax(root string) (int64, bool) {
	best, found := int64(0), false
	take := func(path string) {
		b, err := os.ReadFile(path)
		if err != nil {
			return
		}
		v := strings.TrimSpace(string(b))
		n, err := strconv.ParseInt(v, 10, 64)
		// "max" is no limit; v1 says so with a huge number.
		if err != nil || n <= 0 || n >= 1<<60 {
			return
		}
		if !found || n < best {
			best, found = n, true
		}
	}
	rel := selfCgroup(filepath.Join(root, "proc/self/cgroup"))
	for dir := filepath.Join(root, "sys/fs/cgroup", rel); ; dir = filepath.Dir(dir) {
		take(filepath.Join(dir, "memory.max"))
		if dir == filepath.Join(root, "sys/fs/cgroup") || len(dir) <= len(root) {
			break
		}
	}
	take(filepath.Join(root, "sys/fs/cgroup/memory/memory.limit_in_bytes"))
	return best, found
}

// selfCgroup is the cgroup v2 path of this process ("0::/path").
func selfCgroup(file string) string {
	f, err := os.Open(file)
	if err != nil {
		return "/"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if p, ok := strings.CutPrefix(sc.Text(), "0::"); ok {
			return filepath.Clean("/" + p)
		}
	}
	return "/"
}
