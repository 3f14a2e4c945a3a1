package engine

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"path/filepath"
	"slices"
	"sync"

	"github.com/gpuctl/gpuctl/inventory"
	"github.com/gpuctl/gpuctl/playbooks"
)

// AnsibleVersion is the ansible-core release whose playbooks gpuctl runs
// and against which its compatibility tests were recorded (the
// expected-ansible files under testdata); content that checks
// ansible_version sees this.
var AnsibleVersion = map[string]any{"full": "2.14.18", "string": "2.14.18", "major": 2, "minor": 14, "revision": 18}

// playState is what every host of the running play shares: the play's
// hosts, the current batch, the hosts that failed, and whether meta ended
// the play or the batch. Plays and batches start one after the other, so
// only failed and the end flags change while hosts run; mu guards them.
type playState struct {
	hosts []string
	batch []string

	mu         sync.Mutex
	added      []string // hosts add_host made or changed during the play (inventory.go)
	failed     map[string]bool
	ended      bool // meta: end_play
	batchEnded bool // meta: end_batch
	clearErrs  bool // meta: clear_host_errors, applied when the next play starts
	// lists is the play's host-list variables until added, failed or batch
	// change (every task-host reads them; making them is O(hosts))
	lists *playLists
}

// playLists are the magic variables listing the play's hosts.
type playLists struct{ all, hosts, batch []any }

// hostLists returns the play's host-list variables, made again only after
// a host was added or failed or a batch started. Templates only read them.
func (p *playState) hostLists() *playLists {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lists == nil {
		p.lists = &playLists{
			all:   toAnyList(slices.Concat(p.hosts, p.added)),
			hosts: p.activeLocked(p.hosts),
			batch: p.activeLocked(p.batch),
		}
	}
	return p.lists
}

// startPlay records the play's hosts before its first batch runs. A
// clear_host_errors of the play before lets the hosts it failed run again.
func (e *Engine) startPlay(hosts []*inventory.Host) {
	if prev := e.play; prev != nil && prev.clearErrs {
		for _, r := range e.hostRuns() {
			r.failed = false
		}
	}
	e.play = &playState{hosts: names(hosts), failed: map[string]bool{}}
}

// startBatch records the hosts of the batch about to run.
func (e *Engine) startBatch(batch []*inventory.Host) {
	e.play.mu.Lock()
	e.play.batch, e.play.batchEnded = names(batch), false
	e.play.lists = nil
	e.play.mu.Unlock()
}

// hostDone records how a host's part of the play ended: a host that failed
// leaves ansible_play_hosts and ansible_play_batch, as in Ansible.
func (e *Engine) hostDone(name string, err error) {
	if err == nil {
		return
	}
	e.play.mu.Lock()
	e.play.failed[name] = true
	e.play.lists = nil
	e.play.mu.Unlock()
}

// activeLocked returns the names of list that have not failed; p.mu is held.
func (p *playState) activeLocked(list []string) []any {
	out := []any{}
	for _, h := range list {
		if !p.failed[h] {
			out = append(out, h)
		}
	}
	return out
}

// stopped reports whether meta ended the play or the batch.
func (p *playState) stopped() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ended || p.batchEnded
}

// omitToken is Ansible's `omit`: a placeholder, random per run, that drops
// the module argument it is the whole value of.
func (e *Engine) omitToken() string {
	e.omitOnce.Do(func() {
		b := make([]byte, 64)
		_, _ = rand.Read(b)
		sum := sha1.Sum(b)
		e.omit = "__omit_place_holder__" + hex.EncodeToString(sum[:])
	})
	return e.omit
}

// removeOmit drops every map entry and list element whose value is the
// omit placeholder, at any depth, as Ansible's remove_omit does.
func (e *Engine) removeOmit(v any) any {
	tok := e.omitToken()
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			if s, ok := val.(string); ok && s == tok {
				continue
			}
			out[k] = e.removeOmit(val)
		}
		return out
	case []any:
		out := make([]any, 0, len(x))
		for _, val := range x {
			if s, ok := val.(string); ok && s == tok {
				continue
			}
			out = append(out, e.removeOmit(val))
		}
		return out
	}
	return v
}

// magicVars sets the variables Ansible defines for every task beyond the
// host's own: the run's options, the play's hosts, omit and the version.
func (e *Engine) magicVars(vars map[string]any, play *playbooks.Play) {
	vars["ansible_version"] = AnsibleVersion
	vars["omit"] = e.omitToken()
	vars["ansible_diff_mode"] = e.opt.Diff
	vars["ansible_forks"] = e.opt.Forks
	vars["ansible_config_file"] = nil
	runTags := slices.Clone(e.opt.Tags)
	if len(runTags) == 0 {
		runTags = []string{"all"}
	}
	vars["ansible_run_tags"] = toAnyList(runTags)
	vars["ansible_skip_tags"] = toAnyList(e.opt.SkipTags)
	if abs, err := filepath.Abs(playbookDir(play)); err == nil {
		vars["playbook_dir"] = abs
	}
	if p := e.play; p != nil {
		l := p.hostLists()
		vars["ansible_play_hosts_all"] = l.all
		vars["ansible_play_hosts"] = l.hosts
		vars["ansible_play_batch"] = l.batch
		vars["play_hosts"] = l.batch
	}
}

func toAnyList(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}
