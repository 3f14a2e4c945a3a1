# Sourced by the cluster fixture scripts: versions, cache paths and the node network in one place.
#
#   GPUCTL_CLUSTER_CACHE  artifacts built once (default /var/cache/gpuctl-cluster): bin/, images/KEY/, layer/KEY/
#   GPUCTL_CLUSTER_RUN    running nodes (default /run/gpuctl-cluster; overlay uppers live in the cache, see up.sh)
CLUSTER_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$CLUSTER_DIR/../.." && pwd)
. "$REPO_ROOT/test/k8s/env.sh"          # K8S_VERSION, ETCD_VERSION, BIN (=k8s binaries), SRC
K8S_BIN=$BIN
HOSTS_CACHE=${GPUCTL_HOSTS_CACHE:-/var/cache/gpuctl-hosts}
CCACHE=${GPUCTL_CLUSTER_CACHE:-/var/cache/gpuctl-cluster}
CBIN=$CCACHE/bin
CRUN=${GPUCTL_CLUSTER_RUN:-$CCACHE/run}
CRICTL_VERSION=v1.34.0
COREDNS_VERSION=v1.12.1
FLANNEL_VERSION=v0.28.10
PAUSE_VERSION=3.10.1
ETCD_IMAGE_TAG=3.6.5-0
REGISTRY=registry.k8s.io
FLANNEL_IMAGE=docker.io/flannel/flannel:$FLANNEL_VERSION
TOOLS_IMAGE=docker.io/gpuctl/e2e-tools:local
# Node network: bridge on this machine, nodes at $NODE_NET.11, .12, ... (own network namespaces, no route out)
BRIDGE=gpuctl-e2e0
NODE_NET=10.77.0
die() { echo "$(basename "$0"): $*" >&2; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}'; }
