#!/usr/bin/env bash
# Issue 13's attacks against gpuctl serve before and after, 10 s each:
# peak RSS and an ordinary client's p50/p99 during each, then /predict
# req/s on the seed model, interleaved. Loopback only; every loop is
# bounded by -d.
#
#   bench/runtime/abuse.sh build [BEFORE_TREE]   # here: static binaries into .devcarry/abuse/
#   bench/runtime/abuse.sh run                   # anywhere with the binaries (no Go needed)
set -euo pipefail
out=.devcarry/abuse
case "${1:-}" in
build)
	before=${2:-/work/main}
	mkdir -p "$out"
	export CGO_ENABLED=0 GOFLAGS=-buildvcs=false
	# The "before" tree is only read: the binary goes to our folder.
	(cd "$before" && go build -trimpath -ldflags='-s -w' -o "$OLDPWD/$out/serve-before" ./runtime/cmd/gpuctl-serve)
	go build -trimpath -ldflags='-s -w' -o "$out/serve-after" ./runtime/cmd/gpuctl-serve
	go build -trimpath -ldflags='-s -w' -o "$out/abuse" ./bench/runtime/abuse
	go build -trimpath -ldflags='-s -w' -o "$out/mlpgen" ./runtime/cmd/mlpgen
	ls -la "$out"
	;;
run)
	"$out/mlpgen" -out /tmp/abuse-mlp >/dev/null
	"$out/abuse" -bin before="$out/serve-before" -bin after="$out/serve-after" \
		-model /tmp/abuse-mlp/mlp.json -d "${DURATION:-10s}" ${ATTACKS:+-attacks "$ATTACKS"}
	;;
*)
	echo "usage: $0 build [BEFORE_TREE] | run" >&2
	exit 2
	;;
esac
