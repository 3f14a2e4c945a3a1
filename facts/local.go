package facts

import (
	"bufio"
	"encoding/json"
	"strings"
)

// Local is ansible_local: every /etc/ansible/facts.d/*.fact, run when
// executable, else read; JSON or INI, as Ansible's setup module does.
var Local = &Fact[map[string]any]{Name: "local", Cmd: `for f in /etc/ansible/facts.d/*.fact; do
  [ -f "$f" ] || continue; n=${f##*/}; echo "@@local ${n%.fact}"
  if [ -x "$f" ]; then "$f"; else cat "$f"; fi
done`, Parse: ParseLocal}

// ParseLocal reads the "@@local name" sections of the Local command.
func ParseLocal(b []byte) (map[string]any, error) {
	out := map[string]any{}
	var name string
	var body strings.Builder
	flush := func() {
		if name != "" {
			out[name] = parseFactFile(name, body.String())
		}
		body.Reset()
	}
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if n, ok := strings.CutPrefix(strings.TrimRight(line, "\n"), "@@local "); ok {
			flush()
			name = n
			continue
		}
		body.WriteString(line)
	}
	flush()
	return out, nil
}

// parseFactFile is JSON, else INI; neither gives Ansible's error string in
// the fact's place, so a playbook sees what went wrong.
func parseFactFile(name, s string) any {
	var v any
	if err := json.Unmarshal([]byte(s), &v); err == nil {
		return v
	}
	if m, ok := parseINI(s); ok {
		return m
	}
	return "error loading facts as JSON or ini - please check content: /etc/ansible/facts.d/" + name + ".fact"
}

// parseINI reads [section] and key=value (or key: value) lines into
// section -> key -> value, as Python's configparser with lower-cased keys.
func parseINI(s string) (map[string]any, bool) {
	out := map[string]any{}
	var sec map[string]any
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		switch {
		case l == "" || l[0] == '#' || l[0] == ';':
			continue
		case l[0] == '[' && l[len(l)-1] == ']':
			sec = map[string]any{}
			out[l[1:len(l)-1]] = sec
		default:
			k, v, ok := strings.Cut(l, "=")
			if c := strings.IndexByte(l, ':'); c >= 0 && (!ok || c < len(k)) {
				k, v, ok = l[:c], l[c+1:], true
			}
			if !ok || sec == nil {
				return nil, false
			}
			sec[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
		}
	}
	return out, len(out) > 0
}
