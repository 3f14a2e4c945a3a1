package modelserver

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gpuctl/gpuctl/modules/modelserver/image"
	"github.com/gpuctl/gpuctl/runtime/model"
)

// modelFile is one file of a model; the image bakes the same type.
type modelFile = image.File

// loadedModel is a model checked on the controller before anything is
// deployed: a bad export fails here, naming the tensor, not in a crash
// loop on the node.
type loadedModel struct {
	Files    []modelFile // empty for the built-in model
	Arch     string      // Rel of the architecture file; "" for built-in
	Name     string
	In, Out  int
	Builtin  bool
	Combined string // hash of every file, for rollouts on model change
}

// loadModel checks the model at archPath (a JSON architecture on the
// controller), or returns the built-in seed model for "".
func loadModel(archPath string) (*loadedModel, error) {
	if archPath == "" {
		m := model.Seed()
		return &loadedModel{Name: m.Name, In: m.In, Out: m.Out, Builtin: true}, nil
	}
	m, err := model.Load(archPath)
	if err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(archPath)
	if err != nil {
		return nil, err
	}
	var a struct {
		Weights string `json:"weights"`
	}
	_ = json.Unmarshal(raw, &a)
	weights := a.Weights
	local := ""
	switch {
	case weights == "":
		weights = strings.TrimSuffix(filepath.Base(archPath), filepath.Ext(archPath)) + ".safetensors"
		local = filepath.Join(filepath.Dir(archPath), weights)
	case filepath.IsAbs(weights) || !filepath.IsLocal(weights):
		return nil, fmt.Errorf("model %s: weights %q must be a path below the architecture file's directory to be shipped with it", archPath, weights)
	default:
		local = filepath.Join(filepath.Dir(archPath), weights)
	}
	lm := &loadedModel{Name: m.Name, In: m.In, Out: m.Out, Arch: filepath.Base(archPath)}
	h := sha256.New()
	for _, f := range []struct{ rel, local string }{{lm.Arch, archPath}, {filepath.ToSlash(weights), local}} {
		mf, err := hashFile(f.local)
		if err != nil {
			return nil, fmt.Errorf("model %s: %w", archPath, err)
		}
		mf.Rel = f.rel
		lm.Files = append(lm.Files, mf)
		fmt.Fprintf(h, "%s %s\n", mf.Rel, mf.Hash)
	}
	lm.Combined = hex.EncodeToString(h.Sum(nil))
	return lm, nil
}

func hashFile(p string) (modelFile, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return modelFile{}, err
	}
	sum := sha256.Sum256(b)
	return modelFile{Local: p, Size: int64(len(b)), Hash: hex.EncodeToString(sum[:])}, nil
}
