// Package modelserver holds the modules of the seed's Day 3: image_import,
// which loads image archives into containerd on hosts without registry
// access, and model_server, which deploys gpuctl's model server (`gpuctl
// serve`) as a Kubernetes Deployment and Service or as a systemd unit, and
// proves it answers a prediction.
package modelserver
