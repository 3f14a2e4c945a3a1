package image

import (
	"debug/elf"
	"fmt"
	"os"
	"path"
	"path/filepath"
)

// libDirs are where a glibc system keeps shared libraries, by GOARCH:
// Debian and Ubuntu's multiarch directories first, then the classic ones.
var libDirs = map[string][]string{
	"amd64": {"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"},
	"arm64": {"/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"},
}

// runtimeLibs collects what a dynamically linked binary needs to start on
// an empty base image: its ELF interpreter and the shared libraries it
// names, recursively, taken from the controller, where the binary was
// built and runs. A gpuctl built with cgo (the CUDA path) needs only glibc;
// the CUDA libraries are opened at run time and come from a CUDA base
// image or not at all (the server then serves on the CPU).
func runtimeLibs(bin, interp, arch string) ([]LayerFile, error) {
	dirs, ok := libDirs[arch]
	if !ok {
		return nil, fmt.Errorf("no library directories known for %s", arch)
	}
	var out []LayerFile
	seen := map[string]bool{}
	add := func(p string) error {
		if seen[p] {
			return nil
		}
		seen[p] = true
		// The real file's bytes go in under the name the loader asks for;
		// links between library names do not matter to it.
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out = append(out, LayerFile{Path: p, Mode: 0o755, Data: b})
		return nil
	}
	if interp == "" || !path.IsAbs(interp) {
		return nil, fmt.Errorf("binary %s has no usable ELF interpreter (%q)", bin, interp)
	}
	if err := add(interp); err != nil {
		return nil, fmt.Errorf("ELF interpreter of %s: %w", bin, err)
	}
	queue := []string{bin}
	for len(queue) > 0 {
		f, err := elf.Open(queue[0])
		queue = queue[1:]
		if err != nil {
			return nil, err
		}
		needed, err := f.ImportedLibraries()
		f.Close()
		if err != nil {
			return nil, err
		}
		for _, n := range needed {
			p := findLib(dirs, n)
			if p == "" {
				return nil, fmt.Errorf("%s needs %s, which is not in %v on this machine", bin, n, dirs)
			}
			if seen[p] {
				continue
			}
			if err := add(p); err != nil {
				return nil, err
			}
			queue = append(queue, p)
		}
	}
	return out, nil
}

func findLib(dirs []string, name string) string {
	if filepath.IsAbs(name) {
		return name
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	return ""
}
