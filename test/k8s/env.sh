# Sourced by the fixture scripts: one place for versions, paths and ports.
K8S_VERSION=${GPUCTL_K8S_VERSION:-v1.34.4}
ETCD_VERSION=${GPUCTL_ETCD_VERSION:-v3.6.5}
KWOK_VERSION=${GPUCTL_KWOK_VERSION:-v0.7.0}
CACHE=${GPUCTL_K8S_CACHE:-/var/cache/gpuctl-k8s}
BIN=${GPUCTL_K8S_BIN:-$CACHE/$K8S_VERSION/bin}
SRC=${GPUCTL_K8S_SRC:-$CACHE/src}
# Run state (PKI, logs, pids) for one fixture instance.
RUN=${GPUCTL_K8S_RUN:-/tmp/gpuctl-k8s}
# Non-default loopback ports so a real cluster on the same machine does not clash.
ETCD_CLIENT_PORT=${GPUCTL_K8S_ETCD_PORT:-12379}
ETCD_PEER_PORT=${GPUCTL_K8S_ETCD_PEER_PORT:-12380}
APISERVER_PORT=${GPUCTL_K8S_APISERVER_PORT:-16443}
KWOK_PORT=${GPUCTL_K8S_KWOK_PORT:-20250}
