package engine

import (
	"errors"
	"fmt"
	"maps"
	"os"

	"github.com/gpuctl/gpuctl/playbooks"
	"github.com/gpuctl/gpuctl/template"
)

// playFiles is what a host read of its play's per-host vars_files.
type playFiles struct {
	play *playbooks.Play
	vars map[string]any
	// done: every entry was read. An entry naming a variable the host does
	// not have yet is skipped until it has facts, as ansible-core skips it
	// (VariableManager.get_vars) while no facts are gathered.
	done bool
}

// loadVarsFiles reads the play's vars_files entries that name templates
// ("{{ ansible_os_family }}.yml") for host r, once their names render, and
// keeps them for taskVars. The names are rendered with the task's
// variables as they are without those files.
func (e *Engine) loadVarsFiles(play *playbooks.Play, r *hostRun, sc *scope, t *playbooks.Task) error {
	if len(play.VarsFiles) == 0 {
		return nil
	}
	r.mu.Lock()
	pf := r.playFiles
	gathered := len(r.facts) > 0
	r.mu.Unlock()
	if pf != nil && pf.play == play && pf.done {
		return nil
	}
	vars := e.taskVars(play, r, sc, t)
	out := &playFiles{play: play, vars: map[string]any{}, done: true}
	for _, vf := range play.VarsFiles {
		if vf.Vars != nil {
			maps.Copy(out.vars, vf.Vars)
			continue
		}
		paths := make([]string, 0, len(vf.Paths))
		var undefined error
		for _, p := range vf.Paths {
			s, err := e.tpl.RenderString(p, vars)
			if errors.Is(err, template.ErrUndefined) {
				undefined = err
				break
			}
			if err != nil {
				return fmt.Errorf("vars_files (%s): %w", vf.Pos, err)
			}
			paths = append(paths, s)
		}
		if undefined != nil {
			if gathered {
				return fmt.Errorf("vars_files (%s): an undefined variable in the file name: %w", vf.Pos, undefined)
			}
			out.done = false
			continue
		}
		v, secrets, err := playbooks.ReadVarsFile(vf.Dir, paths, os.ReadFile, e.opt.Vault)
		if err != nil {
			return fmt.Errorf("vars_files (%s): %w", vf.Pos, err)
		}
		for _, s := range secrets {
			e.addSecret(s)
		}
		maps.Copy(out.vars, v)
	}
	r.mu.Lock()
	r.playFiles = out
	r.mu.Unlock()
	return nil
}

// varsFilesOf returns what loadVarsFiles read for r in play.
func (r *hostRun) varsFilesOf(play *playbooks.Play) map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.playFiles == nil || r.playFiles.play != play {
		return nil
	}
	return r.playFiles.vars
}
