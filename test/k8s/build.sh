#!/bin/bash
# Builds the real-control-plane test fixture from the Go module proxy only:
# kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, etcd and kwok.
# Binaries go to a cache outside git and are rebuilt only when missing or built for another version.
#
#   GPUCTL_K8S_CACHE   cache root            (default /var/cache/gpuctl-k8s)
#   GPUCTL_K8S_VERSION Kubernetes version    (default v1.34.4)
#   GPUCTL_ETCD_VERSION etcd version         (default v3.6.5)
#   GPUCTL_KWOK_VERSION kwok version         (default v0.7.0)
#   GPUCTL_K8S_BIN     output dir            (default $GPUCTL_K8S_CACHE/$GPUCTL_K8S_VERSION/bin)
set -euo pipefail
. "$(dirname "$0")/env.sh"

mkdir -p "$BIN" "$SRC"
export CGO_ENABLED=0
t_all=$(date +%s)

# have NAME VERSION: true when NAME is already built for VERSION.
have() { [ -x "$BIN/$1" ] && [ "$(cat "$BIN/.$1.version" 2>/dev/null)" = "$2" ]; }
stamp() { echo "$2" > "$BIN/.$1.version"; }
# timed LABEL CMD...: run CMD and report how long it took.
timed() { local l=$1 s=$(date +%s); shift; "$@"; echo "build: $l took $(( $(date +%s) - s ))s" >&2; }

build_k8s() {
	# k8s.io/kubernetes maps its staging modules to ./staging via replace directives, so
	# `go install k8s.io/kubernetes/cmd/X@V` is refused; a scratch module re-maps them to v0.<minor>.<patch>.
	local d="$SRC/k8s-$K8S_VERSION" sv="v0.${K8S_VERSION#v1.}"
	if [ ! -f "$d/tools.go" ]; then
		rm -rf "$d"; mkdir -p "$d"
		( cd "$d"
		  go mod init example.com/gpuctl-k8sbins >/dev/null 2>&1
		  local kmod
		  kmod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
		  { echo "require k8s.io/kubernetes $K8S_VERSION"; echo "replace ("
		    grep -oE '^\s*k8s\.io/[a-z0-9-]+ => \./staging' "$kmod" | awk -v v="$sv" '{print "\t"$1" => "$1" "v}'
		    echo ")"; } >> go.mod
		  cat > tools.go <<'T'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
T
		  go mod tidy >/dev/null 2>&1 || { rm -f tools.go; exit 1; } )
	fi
	# Without these ldflags gitVersion is "v0.0.0-master+$Format:%H$": kubectl version fails and
	# clients cannot parse the server version.
	local ld="-s -w" minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
	for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		ld="$ld -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean -X $p.buildDate=2026-01-01T00:00:00Z"
	done
	for b in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
		have "$b" "$K8S_VERSION" && continue
		( cd "$d" && timed "$b $K8S_VERSION" go build -ldflags "$ld" -o "$BIN/$b.tmp" "k8s.io/kubernetes/cmd/$b" )
		mv "$BIN/$b.tmp" "$BIN/$b"; stamp "$b" "$K8S_VERSION"
	done
}

build_etcd() {
	have etcd "$ETCD_VERSION" && return 0
	# go install is refused here too (replace directives in etcd's server module).
	local d="$SRC/etcd-$ETCD_VERSION"
	if [ ! -f "$d/tools.go" ]; then
		rm -rf "$d"; mkdir -p "$d"
		( cd "$d"
		  go mod init example.com/gpuctl-etcdbuild >/dev/null 2>&1
		  printf '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' > tools.go
		  go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >/dev/null 2>&1 && go mod tidy >/dev/null 2>&1 || { rm -f tools.go; exit 1; } )
	fi
	( cd "$d" && timed "etcd $ETCD_VERSION" go build -ldflags "-s -w" -o "$BIN/etcd.tmp" go.etcd.io/etcd/server/v3 )
	mv "$BIN/etcd.tmp" "$BIN/etcd"; stamp etcd "$ETCD_VERSION"
}

build_kwok() {
	have kwok "$KWOK_VERSION" && return 0
	local gb="$SRC/kwok-$KWOK_VERSION"; mkdir -p "$gb"
	( cd "$SRC" && GOBIN="$gb" timed "kwok $KWOK_VERSION" go install -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" )
	mv "$gb/kwok" "$BIN/kwok"; stamp kwok "$KWOK_VERSION"
}

build_etcd
build_kwok
build_k8s
echo "build: fixture binaries ready in $BIN after $(( $(date +%s) - t_all ))s"
