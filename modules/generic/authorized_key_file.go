package generic

import (
	"slices"
	"sort"
	"strings"
)

// authKey is one line of an authorized_keys file as Ansible's parsekey
// sees it: a key (id is its base64 blob) or a line kept as it is (typ
// "skipped": comments, blank and unparsable lines; id is the line).
type authKey struct {
	id, typ string
	options []keyOption
	comment string
	rank    int
	raw     string
}

// authKeysFile keeps the keys in insertion order, as Python's dict does:
// replacing a key keeps its place, removing and adding moves it last.
type authKeysFile struct {
	order   []string
	keys    map[string]*authKey
	changed bool
}

// sshFields splits as Python's shlex with whitespace_split and no quotes.
func sshFields(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '\t' || r == '\r' || r == '\n' })
}

// parseAuthKey is Ansible's parsekey; nil for a line that holds no key.
func parseAuthKey(line string, rank int) *authKey {
	raw := strings.ReplaceAll(line, `\#`, "#")
	parts := sshFields(raw)
	if len(parts) > 0 && parts[0] == "#" {
		return &authKey{id: raw, typ: "skipped", raw: raw, rank: rank}
	}
	ti := slices.IndexFunc(parts, func(p string) bool { return slices.Contains(sshKeyTypes, p) })
	if ti < 0 || ti+1 >= len(parts) {
		return nil
	}
	k := &authKey{id: parts[ti+1], typ: parts[ti], comment: strings.Join(parts[ti+2:], " "), rank: rank}
	if ti > 0 {
		k.options = parseKeyOptions(strings.Join(parts[:ti], " "))
	}
	return k
}

func parseAuthKeys(text string) *authKeysFile {
	kf := &authKeysFile{keys: map[string]*authKey{}}
	lines := strings.SplitAfter(text, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	for i, l := range lines {
		k := parseAuthKey(l, i)
		if k == nil {
			k = &authKey{id: l, typ: "skipped", raw: l, rank: i}
		}
		kf.put(k)
	}
	return kf
}

func (kf *authKeysFile) put(k *authKey) {
	if _, ok := kf.keys[k.id]; !ok {
		kf.order = append(kf.order, k.id)
	}
	kf.keys[k.id] = k
}

func (kf *authKeysFile) remove(id string) {
	delete(kf.keys, id)
	kf.order = slices.DeleteFunc(kf.order, func(x string) bool { return x == id })
	kf.changed = true
}

// same compares key, type, options and comment as Ansible's tuples do:
// options by name, the values of a repeated name in order.
func (k *authKey) same(o *authKey) bool {
	if k.id != o.id || k.typ != o.typ || k.comment != o.comment {
		return false
	}
	group := func(opts []keyOption) map[string][]string {
		m := map[string][]string{}
		for _, op := range opts {
			v := "\x00" // a bare flag differs from an empty value
			if op.value != nil {
				v = *op.value
			}
			m[op.name] = append(m[op.name], v)
		}
		return m
	}
	a, b := group(k.options), group(o.options)
	if len(a) != len(b) {
		return false
	}
	for n, v := range a {
		if !slices.Equal(v, b[n]) {
			return false
		}
	}
	return true
}

// serialize is Ansible's: by rank (stable), keys rewritten as
// "OPTIONS TYPE KEY COMMENT\n" (a trailing space when there is no comment,
// as Ansible writes), other lines as they were.
func (kf *authKeysFile) serialize() string {
	list := make([]*authKey, 0, len(kf.order))
	for _, id := range kf.order {
		list = append(list, kf.keys[id])
	}
	sort.SliceStable(list, func(a, b int) bool { return list[a].rank < list[b].rank })
	var sb strings.Builder
	for _, k := range list {
		if k.typ == "skipped" {
			sb.WriteString(k.raw)
			continue
		}
		if len(k.options) > 0 {
			opts := make([]string, len(k.options))
			for i, o := range k.options {
				opts[i] = o.name
				if o.value != nil {
					opts[i] += "=" + *o.value
				}
			}
			sb.WriteString(strings.Join(opts, ",") + " ")
		}
		sb.WriteString(k.typ + " " + k.id + " " + k.comment + "\n")
	}
	return sb.String()
}
