package kube

import (
	"strings"

	"github.com/gpuctl/gpuctl/modules"
)

func newModuleErr(name string, args map[string]any) (modules.Module, error) {
	return modules.New(name, args)
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
