package engine

import (
	"crypto/rand"
	"fmt"
	"maps"
	"time"

	"github.com/gpuctl/gpuctl/playbooks"
)

// varsPrompt asks for the play's vars_prompt variables, as ansible-core's
// playbook executor does before the play: a variable -e gives is not
// asked; prompt and default may be templates over the play's vars; without
// a terminal (Options.Prompt nil) nothing is asked, with a warning, and the
// default (or None) is used; encrypt hashes the answer as password_hash.
// The answers become play vars; private ones are masked as secrets.
func (e *Engine) varsPrompt(play *playbooks.Play) error {
	warned := false
	for _, p := range play.VarsPrompt {
		if _, given := e.opt.ExtraVars[p.Name]; given {
			continue
		}
		vars := maps.Clone(play.Vars)
		if vars == nil {
			vars = map[string]any{}
		}
		maps.Copy(vars, e.opt.ExtraVars)
		prompt, err := e.tpl.RenderString(p.Prompt, vars)
		if err != nil {
			return fmt.Errorf("vars_prompt %s: prompt: %w", p.Name, err)
		}
		var def any
		if p.Default != nil {
			if def, err = e.tpl.RenderValue(p.Default, vars); err != nil {
				return fmt.Errorf("vars_prompt %s: default: %w", p.Name, err)
			}
		}
		var answer any
		if e.opt.Prompt != nil {
			msg := fmt.Sprintf("input for %s: ", p.Name)
			switch {
			case prompt != "" && def != nil:
				msg = fmt.Sprintf("%s [%v]: ", prompt, def)
			case prompt != "":
				msg = prompt + ": "
			}
			for {
				a, err := e.opt.Prompt(msg, p.Private)
				if err != nil {
					return fmt.Errorf("vars_prompt %s: %w", p.Name, err)
				}
				if p.Confirm {
					b, err := e.opt.Prompt("confirm "+msg, p.Private)
					if err != nil {
						return fmt.Errorf("vars_prompt %s: %w", p.Name, err)
					}
					if a != b {
						e.opt.Reporter.Event(Event{Type: EventWarning, Time: time.Now(), Play: play.Name, Msg: "***** VALUES ENTERED DO NOT MATCH ****"})
						continue
					}
				}
				if a != "" {
					answer = a
				}
				break
			}
		} else if !warned {
			warned = true
			e.opt.Reporter.Event(Event{Type: EventWarning, Time: time.Now(), Play: play.Name,
				Msg: fmt.Sprintf("play %q (%s): not prompting for vars_prompt, as the run is not interactive; defaults are used (give the variables with -e)", play.Name, play.Pos)})
		}
		if answer == nil {
			answer = def
		}
		if p.Encrypt != "" && answer != nil {
			hv := map[string]any{"v": fmt.Sprint(answer), "scheme": p.Encrypt, "salt": nil}
			switch {
			case p.Salt != "":
				hv["salt"] = p.Salt
			case p.SaltSize > 0:
				hv["salt"] = randomSalt(p.SaltSize)
			}
			h, err := e.tpl.Eval("v | password_hash(scheme, salt)", hv)
			if err != nil {
				return fmt.Errorf("vars_prompt %s: encrypt: %w", p.Name, err)
			}
			answer = h
		}
		if s, ok := answer.(string); ok && p.Private {
			e.addSecret(s)
		}
		if play.Vars == nil {
			play.Vars = map[string]any{}
		}
		play.Vars[p.Name] = answer
	}
	return nil
}

// randomSalt is a crypt salt of n characters.
func randomSalt(n int) string {
	const chars = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = chars[int(b[i])%len(chars)]
	}
	return string(b)
}
