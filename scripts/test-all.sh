#!/bin/bash
# The whole test suite, as CI runs it: installs what the tests need (Debian packages, the
# throwaway test-host image, the real Kubernetes control plane built from the Go module
# proxy; all cached outside git), then runs every Go test, integration tests included.
# Needs root (test hosts are systemd-nspawn containers and QEMU VMs). Re-runs reuse the caches.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOFLAGS=${GOFLAGS:--buildvcs=false}
export PATH=$PATH:/usr/local/go/bin
t0=$(date +%s)
step() { echo "== $* ($(( $(date +%s) - t0 ))s)"; }

if [ "$(id -u)" != 0 ]; then
	echo "test-all: integration tests need root; running the unit tests only" >&2
	exec go test -short ./...
fi

step "Debian packages for the tests"
pkgs="openssh-server openssh-client sudo gnupg apt-utils dpkg-dev openssl iproute2 wrk curl unzip ansible-core ansible python3-passlib python3-bcrypt rsync"
missing=$(for p in $pkgs; do dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' || echo "$p"; done)
if [ -n "$missing" ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q --no-install-recommends $missing >/dev/null ||
		{ apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $missing >/dev/null; }
fi

step "go vet"
go vet ./...

step "test-host image (test/hosts/build.sh)"
bash test/hosts/build.sh

step "Kubernetes control-plane binaries (test/k8s/build.sh)"
bash test/k8s/build.sh

step "kubeadm and kubelet for the node module tests (modules/node/testdata/build-kubeadm.sh)"
bash modules/node/testdata/build-kubeadm.sh kubeadm kubelet

step "end-to-end cluster artifacts (test/cluster/build.sh)"
bash test/cluster/build.sh

step "go test"
export GPUCTL_TEST_HOSTS=require GPUCTL_K8S_FIXTURE=require GPUCTL_E2E=require
# -p 1: integration packages share the machine's 2 cores, loopback addresses and fixtures.
# The packages where hosts run concurrently (engine, connections, plan rendering and the
# integration tests that drive them) run once, under the race detector, not twice.
race="./engine/... ./conn/... ./plan/... ./test/integration/..."
rest=$(go list ./... | grep -v -E '/(engine|conn|plan|test/integration)(/|$)')
go test -count=1 -p 1 -timeout 60m $rest 2>&1 | tee /tmp/gpuctl-test.log
step "go test -race ($race)"
go test -race -count=1 -p 1 -timeout 45m $race 2>&1 | tee -a /tmp/gpuctl-test.log
step "done"
