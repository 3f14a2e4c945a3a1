package inventory

import (
	"fmt"
	"os"
	"strings"
)

// ExpandLimitFiles replaces each "@FILE" part of a --limit pattern with the
// host patterns FILE lists, one a line, as ansible-core's subset does: that
// is how `--limit @site.retry` re-runs the hosts a retry file names. Other
// parts stay as they are, so "@site.retry,!gpu-3" works too. A missing or
// empty file is an error, before any host is contacted (an empty file
// would otherwise match nothing, or, in Ansible, every host).
func ExpandLimitFiles(pattern string) (string, error) {
	if !strings.Contains(pattern, "@") {
		return pattern, nil
	}
	var out []string
	for _, p := range splitPattern(pattern) {
		file, ok := strings.CutPrefix(p, "@")
		if !ok {
			out = append(out, p)
			continue
		}
		lines, err := readLimitFile(file)
		if err != nil {
			return "", err
		}
		out = append(out, lines...)
	}
	return strings.Join(out, ","), nil
}

func readLimitFile(file string) ([]string, error) {
	st, err := os.Stat(file)
	if err != nil {
		return nil, fmt.Errorf("limit file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("limit file %s: a limit starting with @ must name a file", file)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("limit file: %w", err)
	}
	var lines []string
	for _, l := range strings.Split(string(data), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		return nil, fmt.Errorf("limit file %s lists no hosts", file)
	}
	return lines, nil
}
