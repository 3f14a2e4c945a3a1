// Package modelserver holds the modules of the seed's Day 3: image_import,
// which loads image archives into containerd on hosts without registry
// access, and model_server, which deploys gpuctl's model server (`gpuctl
// serve`) as a Kubernetes Deployment and Service or as a systemd unit, and
// proves it answers a prediction.
//
// The concerns live in subpackages: image builds the OCI image and reads
// archives, containerd imports them on a host, manifest makes the
// Kubernetes objects (and, through a test here, runtime/deploy/*.yaml).
// This package holds the modules' arguments, their Check and Apply, the
// model files and the systemd unit.
package modelserver
