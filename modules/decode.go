package modules

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"

	suggestpkg "github.com/gpuctl/gpuctl/internal/suggest"
)

// ErrUnknownModule is returned by New for a name nobody registered.
var ErrUnknownModule = errors.New("unknown module")

// New builds the module named name from its arguments; see Spec.Build.
// Tests and callers without a task use it; the loader and the engine resolve
// the Spec once and keep it.
func New(name string, args map[string]any) (Module, error) {
	s, err := Resolve(name)
	if err != nil {
		return nil, err
	}
	m, _, err := s.Build(args)
	return m, err
}

// takesAnyKey reports a module whose arguments struct collects unknown
// keys in a ",remain" field (set_fact's variables, other OS families'
// modules): every key is then its own.
func takesAnyKey(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	for f := range t.Fields() {
		if strings.Contains(f.Tag.Get("yaml"), ",remain") {
			return true
		}
	}
	return false
}

// Decode fills the struct out points to from args, honouring the yaml,
// default, required and choices tags.
func Decode(args map[string]any, out any) error {
	if err := applyDefaults(out); err != nil {
		return err
	}
	args, err := resolveAliases(args, out)
	if err != nil {
		return err
	}
	var md mapstructure.Metadata
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		TagName:          "yaml",
		Result:           out,
		ErrorUnused:      true,
		WeaklyTypedInput: true,
		Metadata:         &md,
		DecodeHook: mapstructure.ComposeDecodeHookFunc(
			intToDurationSeconds,
			mapstructure.StringToTimeDurationHookFunc(),
			boolWords,
			boolToPythonString,
		),
	})
	if err != nil {
		return err
	}
	if err := dec.Decode(args); err != nil {
		return cleanDecodeError(err)
	}
	return checkTags(out, args)
}

// resolveAliases renames arguments given under one of Ansible's aliases
// (the aliases tag) to their canonical name, in a copy of args; giving
// both names is an error, as in Ansible.
func resolveAliases(args map[string]any, out any) (map[string]any, error) {
	var res map[string]any
	err := walkFields(reflect.ValueOf(out).Elem(), func(f reflect.StructField, _ reflect.Value) error {
		name := strings.Split(f.Tag.Get("yaml"), ",")[0]
		for _, al := range strings.Split(f.Tag.Get("aliases"), ",") {
			v, ok := args[al]
			if al == "" || !ok {
				continue
			}
			if res == nil {
				res = maps.Clone(args)
			}
			if _, dup := res[name]; dup {
				return fmt.Errorf("argument %q is given twice (as %q and its alias %q)", name, name, al)
			}
			delete(res, al)
			res[name] = v
		}
		return nil
	})
	if res == nil {
		res = args
	}
	return res, err
}

// intToDurationSeconds lets `timeout: 300` mean seconds, as Ansible users write,
// also as a string (`cache_valid_time=600` in a free-form line), so it must
// run before mapstructure's duration hook, which wants a unit.
func intToDurationSeconds(from, to reflect.Type, data any) (any, error) {
	if to != reflect.TypeOf(time.Duration(0)) {
		return data, nil
	}
	switch v := data.(type) {
	case int:
		return time.Duration(v) * time.Second, nil
	case int64:
		return time.Duration(v) * time.Second, nil
	case float64:
		return time.Duration(v * float64(time.Second)), nil
	case string:
		if d, err := time.ParseDuration(v); err == nil {
			return d, nil
		}
		if n, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
			return time.Duration(n * float64(time.Second)), nil
		}
	}
	return data, nil
}

// boolWords accepts YAML 1.1 words (yes/no/on/off) that Ansible users keep
// writing in strings produced by templates.
func boolWords(from, to reflect.Type, data any) (any, error) {
	if to.Kind() != reflect.Bool {
		return data, nil
	}
	s, ok := data.(string)
	if !ok {
		return data, nil
	}
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "yes", "y", "on", "true", "1":
		return true, nil
	case "no", "n", "off", "false", "0", "":
		return false, nil
	}
	return nil, fmt.Errorf("%q is not a boolean (use true or false)", s)
}

// boolToPythonString writes a YAML boolean given to a string argument as
// Python's str() does, True or False, as ansible-core's type=str conversion
// does; the choices check then maps it back to a yes/no word (checkTags).
// mapstructure's weak typing would make it "1" or "0", which no choice list
// holds (uri follow_redirects: false, apt upgrade: yes).
func boolToPythonString(from, to reflect.Type, data any) (any, error) {
	b, ok := data.(bool)
	if !ok || to.Kind() != reflect.String {
		return data, nil
	}
	if b {
		return "True", nil
	}
	return "False", nil
}

// The strings ansible-core's convert_bool takes as true and as false.
var (
	pyBoolTrue  = []string{"y", "yes", "on", "1", "true", "t"}
	pyBoolFalse = []string{"n", "no", "off", "0", "false", "f"}
)

// unambiguousBoolChoice is ansible-core's rule for a True or False that is
// not among an argument's choices (parameters.py, _validate_argument_values):
// PyYAML made a boolean of what was likely a word, so when exactly one choice
// is a boolean word of the same truth, that choice is meant.
func unambiguousBoolChoice(v string, choices []string) (string, bool) {
	var words []string
	switch v {
	case "True":
		words = pyBoolTrue
	case "False":
		words = pyBoolFalse
	default:
		return "", false
	}
	var match []string
	for _, c := range choices {
		if slices.Contains(words, c) {
			match = append(match, c)
		}
	}
	if len(match) != 1 {
		return "", false
	}
	return match[0], true
}

var invalidKeys = regexp.MustCompile(`'[^']*' has invalid keys: `)

func cleanDecodeError(err error) error {
	msg := err.Error()
	msg = strings.ReplaceAll(msg, "decoding failed due to the following error(s):\n\n", "")
	msg = invalidKeys.ReplaceAllString(msg, "unknown argument: ")
	return errors.New(msg)
}

func applyDefaults(out any) error {
	v := reflect.ValueOf(out)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("decode target must be a pointer to a struct, got %T", out)
	}
	return walkFields(v.Elem(), func(f reflect.StructField, fv reflect.Value) error {
		def, ok := f.Tag.Lookup("default")
		if !ok || !fv.IsZero() {
			return nil
		}
		dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
			Result:           fv.Addr().Interface(),
			WeaklyTypedInput: true,
			DecodeHook:       mapstructure.ComposeDecodeHookFunc(intToDurationSeconds, mapstructure.StringToTimeDurationHookFunc(), boolWords),
		})
		if err != nil {
			return err
		}
		if err := dec.Decode(def); err != nil {
			return fmt.Errorf("default of %s: %w", f.Name, err)
		}
		return nil
	})
}

func checkTags(out any, args map[string]any) error {
	return walkFields(reflect.ValueOf(out).Elem(), func(f reflect.StructField, fv reflect.Value) error {
		name := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if f.Tag.Get("required") == "true" {
			if _, given := args[name]; !given || fv.IsZero() {
				return fmt.Errorf("missing required argument %q", name)
			}
		}
		if c := f.Tag.Get("choices"); c != "" && fv.Kind() == reflect.String && fv.String() != "" {
			choices := strings.Split(c, ",")
			if w, ok := unambiguousBoolChoice(fv.String(), choices); ok && !slices.Contains(choices, fv.String()) {
				fv.SetString(w)
			}
			if !slices.Contains(choices, fv.String()) {
				return fmt.Errorf("argument %q is %q; expected one of %s", name, fv.String(), strings.Join(choices, ", "))
			}
		}
		return nil
	})
}

func walkFields(v reflect.Value, fn func(reflect.StructField, reflect.Value) error) error {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			if err := walkFields(v.Field(i), fn); err != nil {
				return err
			}
			continue
		}
		if err := fn(f, v.Field(i)); err != nil {
			return err
		}
	}
	return nil
}

// suggest offers the closest registered name for a typo.
func suggest(name string) string { return suggestpkg.Hint(name, Names()) }
