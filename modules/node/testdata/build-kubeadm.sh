#!/bin/bash
# Builds kubeadm and kubelet (v1.34.4 by default) from the Go module proxy into the
# fixture cache of test/k8s/build.sh, reusing its scratch module and Go build cache:
# k8s.io/kubernetes cannot be `go install`ed (its go.mod replaces the staging modules),
# so the scratch module re-maps them to v0.MINOR.PATCH. Needed by
# TestKubeadmConfigValidate and the kubeadm integration tests.
#   usage: modules/node/testdata/build-kubeadm.sh [kubeadm kubelet ...]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../../test/k8s/env.sh"
bins=${*:-kubeadm kubelet}
export CGO_ENABLED=0
mkdir -p "$BIN" "$SRC"
have() { [ -x "$BIN/$1" ] && [ "$(cat "$BIN/.$1.version" 2>/dev/null)" = "$K8S_VERSION" ]; }
todo=""
for b in $bins; do have "$b" || todo="$todo $b"; done
[ -z "$todo" ] && { echo "build-kubeadm: $bins already built for $K8S_VERSION in $BIN"; exit 0; }

d="$SRC/k8s-$K8S_VERSION-node"
if [ ! -f "$d/tools.go" ]; then
	rm -rf "$d"; mkdir -p "$d"
	base="$SRC/k8s-$K8S_VERSION"
	if [ -f "$base/go.mod" ]; then
		cp "$base/go.mod" "$base/go.sum" "$d/"   # same requires and replaces as the control plane build
	else
		( cd "$d"
		  go mod init example.com/gpuctl-k8snode >/dev/null 2>&1
		  kmod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
		  { echo "require k8s.io/kubernetes $K8S_VERSION"; echo "replace ("
		    grep -oE '^\s*k8s\.io/[a-z0-9-]+ => \./staging' "$kmod" | awk -v v="v0.${K8S_VERSION#v1.}" '{print "\t"$1" => "$1" "v}'
		    echo ")"; } >> go.mod )
	fi
	printf '//go:build tools\n\npackage tools\n\nimport (\n\t_ "k8s.io/kubernetes/cmd/kubeadm"\n\t_ "k8s.io/kubernetes/cmd/kubelet"\n)\n' > "$d/tools.go"
	( cd "$d" && go mod tidy >/dev/null 2>&1 ) || { rm -f "$d/tools.go"; echo "build-kubeadm: go mod tidy failed" >&2; exit 1; }
fi
ld="-s -w" minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	ld="$ld -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean -X $p.buildDate=2026-01-01T00:00:00Z"
done
for b in $todo; do
	s=$(date +%s)
	( cd "$d" && go build -ldflags "$ld" -o "$BIN/$b.tmp" "k8s.io/kubernetes/cmd/$b" )
	mv "$BIN/$b.tmp" "$BIN/$b"; echo "$K8S_VERSION" > "$BIN/.$b.version"
	echo "build-kubeadm: $b took $(( $(date +%s) - s ))s" >&2
done
