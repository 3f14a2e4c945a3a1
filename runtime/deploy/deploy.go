// Package deploy carries the model server's Kubernetes manifests
// (namespace, deployment, service), embedded so that gpuctl can apply or
// template them without reading files beside the binary.
package deploy

import "embed"

// Manifests holds namespace.yaml, deployment.yaml and service.yaml.
//
//go:embed *.yaml
var Manifests embed.FS
