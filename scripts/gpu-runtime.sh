#!/usr/bin/env bash
# GPU tests and benchmarks of the model server (runtime/), in two halves:
#
#   scripts/gpu-runtime.sh build   # on the development machine (Go + cgo): binaries into .devcarry/runtime/
#   scripts/gpu-runtime.sh run     # on the GPU machine (no Go needed): tests, kernel and HTTP benchmarks
#   scripts/gpu-runtime.sh served  # on the GPU machine: only the served benchmarks, the raw HTTP/1.1 fast path
#                                  # against --net-http-only in the same run (alternating), and the CPU path
#                                  # against PyTorch CPU (SKIP_CPU=1: not); needs only gpuctl-serve and gpubench
#   scripts/gpu-runtime.sh ab      # on the GPU machine: two builds of gpuctl-serve (BIN_A, BIN_B, each a
#                                  # build-served folder) on the same fast-path loads, ROUNDS (3) rounds with
#                                  # the order flipped each round; one load generator (BIN_A's) for both
#
# With the device tool: run(command="scripts/gpu-runtime.sh run", carry=[".devcarry/runtime"]).
# Results go to $OUT (or /tmp/gpu-runtime): tests.log, bench.jsonl, table.md, http.jsonl, and logs.tgz
# with every server log, /metrics sample and raw benchmark output.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.devcarry/runtime}
FINAL=${OUT:-/tmp/gpu-runtime}
# Everything is written under $OUT/work and packed into logs.tgz at the end;
# the summary files stay at the top (the device tool returns 8 files).
OUT=$FINAL/work

build() {
	mkdir -p "$BIN"
	export CGO_ENABLED=1
	local ld='-s -w'
	go build -trimpath -ldflags="$ld" -o "$BIN/gpuctl-serve" ./runtime/cmd/gpuctl-serve
	go build -trimpath -ldflags="$ld" -o "$BIN/gpubench" ./runtime/cmd/gpubench
	[ -n "${BUILD_SERVED:-}" ] && { ls -la "$BIN"; return; }
	go test -c -trimpath -ldflags="$ld" -o "$BIN/cuda.test" ./runtime/backend/cuda
	go test -c -trimpath -ldflags="$ld" -o "$BIN/servecmd.test" ./runtime/servecmd
	ls -la "$BIN"
}

wait_ready() {
	for _ in $(seq 1 200); do
		curl -sf "http://127.0.0.1:$1/v2/health/ready" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

# serve_load NAME PORT "serve flags" "load flags": one server, one load run.
serve_load() {
	local name=$1 port=$2 sflags=$3 lflags=$4
	"$BIN/gpuctl-serve" --addr "127.0.0.1:$port" $sflags >"$OUT/serve-$name.log" 2>&1 &
	local pid=$!
	if wait_ready "$port"; then
		"${LOADER:-$BIN/gpubench}" load -label "$name" -json "$OUT/http.jsonl" $lflags -url "http://127.0.0.1:$port${URLPATH:-/predict}"
		curl -s "http://127.0.0.1:$port/metrics" | grep -E '^gpuctl_(serve_batch_rows_(sum|count)|gpu_)' >"$OUT/metrics-$name.txt"
	else
		echo "server $name did not become ready:"; tail -20 "$OUT/serve-$name.log"
	fi
	kill -TERM "$pid"; wait "$pid"
}

run() {
	mkdir -p "$OUT"
	export LD_LIBRARY_PATH=/usr/local/nvidia/lib64:/usr/local/nvidia/lib:${LD_LIBRARY_PATH:-}
	nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,temperature.gpu --format=csv | tee "$OUT/gpu.txt"
	echo "== tests (CUDA libraries found by the backend's own search; /usr/local/cuda/... is not on LD_LIBRARY_PATH)"
	"$BIN/cuda.test" -test.v -test.short 2>&1 | tee "$OUT/tests.log" | grep -E '^(=== RUN|--- |PASS|FAIL|ok)|relative error|skip' | head -60
	"$BIN/servecmd.test" -test.v -test.short 2>&1 | tee -a "$OUT/tests.log" | grep -E '^(--- |PASS|FAIL|ok)|GPU' | head -30
	echo "== seed model on the GPU"
	"$BIN/gpuctl-serve" --addr 127.0.0.1:18080 --device cuda >"$OUT/serve-seed.log" 2>&1 &
	local pid=$!
	wait_ready 18080 && { curl -s 127.0.0.1:18080/; echo; curl -s 127.0.0.1:18080/predict -d '[0,1,2,3,4,5,6,7,8,9]'; echo; curl -s 127.0.0.1:18080/metrics | grep '^gpuctl_gpu'; } | tee "$OUT/seed.txt"
	kill -TERM $pid; wait $pid; tail -5 "$OUT/serve-seed.log"
	echo "== kernels: gpuctl (cuBLAS) vs PyTorch eager, reference MLP"
	"$BIN/gpubench" gen /tmp/mlp >/dev/null
	rm -f "$OUT/bench.jsonl" "$OUT/http.jsonl"
	"$BIN/gpubench" kernels -model /tmp/mlp/mlp.json -precisions fp32,tf32,bf16,cpu -paths lt,graphs -json "$OUT/bench.jsonl" 2>&1 | tee "$OUT/gpubench.log"
	echo "-- CPU path with the AVX2 kernels only (for comparison; not in bench.jsonl)"
	GPUCTL_NO_AVX512=1 "$BIN/gpubench" kernels -model /tmp/mlp/mlp.json -precisions cpu 2>&1 | tee -a "$OUT/gpubench.log"
	PYTHONUNBUFFERED=1 python3 bench/runtime/torch_mlp_bench.py --model /tmp/mlp/mlp.json --device cuda --json "$OUT/bench.jsonl" 2>&1 | tee "$OUT/torch.log"
	PYTHONUNBUFFERED=1 python3 bench/runtime/torch_mlp_bench.py --model /tmp/mlp/mlp.json --device cpu --batches 1,256 --modes fp32 --json "$OUT/bench.jsonl" 2>&1 | tee -a "$OUT/torch.log"
	echo "== HTTP: the load generator alone (gpubench sink answers without work), then the server"
	"$BIN/gpubench" sink -addr 127.0.0.1:18090 -resp 4096 & local sp=$!
	sleep 0.3
	"$BIN/gpubench" load -label sink-1row -json "$OUT/http.jsonl" -conc 256 -dur 3s -url http://127.0.0.1:18090/v2/models/mlp/infer
	"$BIN/gpubench" load -label sink-256rows -json "$OUT/http.jsonl" -conc 32 -rows 256 -dur 3s -url http://127.0.0.1:18090/v2/models/mlp/infer
	kill $sp
	for prec in fp32 bf16; do
		serve_load "$prec-batching-on" 18081 "--model /tmp/mlp/mlp.json --device cuda --precision $prec --batching=on --max-batch 256 --log-level warn" "-conc 256 -dur 5s -width 1024"
		serve_load "$prec-batching-off" 18082 "--model /tmp/mlp/mlp.json --device cuda --precision $prec --batching=off --log-level warn" "-conc 256 -dur 5s -width 1024"
	done
	URLPATH=/v2/models/mlp/infer serve_load "bf16-v2-binary-1row" 18083 "--model /tmp/mlp/mlp.json --device cuda --precision bf16 --batching=on --max-batch 256 --log-level warn" "-conc 256 -dur 5s -width 1024"
	URLPATH=/v2/models/mlp/infer serve_load "bf16-v2-binary-256rows" 18084 "--model /tmp/mlp/mlp.json --device cuda --precision bf16 --batching=on --max-batch 256 --log-level warn" "-conc 32 -rows 256 -dur 5s -width 1024"
	echo "== summary"
	python3 bench/runtime/compare.py "$OUT/bench.jsonl" | tee "$OUT/table.md"
	cat "$OUT/http.jsonl"
	cp "$OUT/bench.jsonl" "$OUT/http.jsonl" "$OUT/table.md" "$OUT/tests.log" "$FINAL/"
	tar -C "$OUT" -czf "$FINAL/logs.tgz" . && rm -rf "$OUT"
}

# served: what a client gets, fast path vs net/http, two rounds alternating so
# drift of the machine shows as spread rather than as a gap.
served() {
	mkdir -p "$OUT"
	export LD_LIBRARY_PATH=/usr/local/nvidia/lib64:/usr/local/nvidia/lib:${LD_LIBRARY_PATH:-}
	nvidia-smi --query-gpu=name,driver_version,clocks.sm --format=csv | tee "$OUT/gpu.txt"
	"$BIN/gpubench" gen /tmp/mlp >/dev/null
	rm -f "$OUT/http.jsonl" "$OUT/bench.jsonl"
	"$BIN/gpubench" sink -addr 127.0.0.1:18090 -resp 4096 & local sp=$!
	sleep 0.3
	"$BIN/gpubench" load -label sink-1row -json "$OUT/http.jsonl" -conc 256 -dur 3s -url http://127.0.0.1:18090/v2/models/mlp/infer
	"$BIN/gpubench" load -label sink-256rows -json "$OUT/http.jsonl" -conc 32 -rows 256 -dur 3s -url http://127.0.0.1:18090/v2/models/mlp/infer
	kill $sp
	local common="--model /tmp/mlp/mlp.json --device cuda --precision bf16 --batching=on --max-batch 256 --log-level warn"
	for round in 1 2; do
		for path in fast nethttp; do
			local extra=""
			[ "$path" = nethttp ] && extra="--net-http-only"
			URLPATH=/v2/models/mlp/infer serve_load "bf16-v2-1row-$path-r$round" 18083 "$common $extra" "-conc 256 -dur 5s -width 1024"
			URLPATH=/v2/models/mlp/infer serve_load "bf16-v2-256rows-$path-r$round" 18084 "$common $extra" "-conc 32 -rows 256 -dur 5s -width 1024"
		done
	done
	# /predict JSON (fp32, as the seed's clients send it): the fast path serves it too since 2026-12-06.
	for round in 1 2; do
		for path in fast nethttp; do
			local extra=""
			[ "$path" = nethttp ] && extra="--net-http-only"
			serve_load "fp32-predict-json-$path-r$round" 18081 "--model /tmp/mlp/mlp.json --device cuda --precision fp32 --batching=on --max-batch 256 --log-level warn $extra" "-conc 256 -dur 5s -width 1024"
		done
	done
	if [ -n "${SKIP_CPU:-}" ]; then
		cat "$OUT/http.jsonl"
		cp "$OUT/http.jsonl" "$FINAL/"
		tar -C "$OUT" -czf "$FINAL/logs.tgz" . && rm -rf "$OUT"
		return
	fi
	echo "== CPU path vs PyTorch CPU (batch 1 and 256)"
	"$BIN/gpubench" kernels -model /tmp/mlp/mlp.json -precisions cpu -json "$OUT/bench.jsonl" 2>&1 | tee "$OUT/gpubench.log"
	PYTHONUNBUFFERED=1 python3 bench/runtime/torch_mlp_bench.py --model /tmp/mlp/mlp.json --device cpu --batches 1,256 --modes fp32 --json "$OUT/bench.jsonl" 2>&1 | tee "$OUT/torch.log"
	python3 bench/runtime/compare.py "$OUT/bench.jsonl" | tee "$OUT/table.md"
	cat "$OUT/http.jsonl"
	cp "$OUT/http.jsonl" "$OUT/bench.jsonl" "$OUT/table.md" "$FINAL/"
	tar -C "$OUT" -czf "$FINAL/logs.tgz" . && rm -rf "$OUT"
}

# ab: is B faster or slower than A? Same loads, same load generator, alternating
# order so that a drifting machine shows as spread, medians per load at the end.
ab() {
	: "${BIN_A:?BIN_A: folder with build A}" "${BIN_B:?BIN_B: folder with build B}"
	mkdir -p "$OUT"
	export LD_LIBRARY_PATH=/usr/local/nvidia/lib64:/usr/local/nvidia/lib:${LD_LIBRARY_PATH:-}
	export LOADER=$BIN_A/gpubench
	nvidia-smi --query-gpu=name,driver_version,clocks.sm --format=csv | tee "$OUT/gpu.txt"
	"$LOADER" gen /tmp/mlp >/dev/null
	rm -f "$OUT/http.jsonl"
	local common="--model /tmp/mlp/mlp.json --device cuda --precision bf16 --batching=on --max-batch 256 --log-level warn"
	local round side order
	for round in $(seq 1 "${ROUNDS:-3}"); do
		order="A B"; [ $((round % 2)) = 0 ] && order="B A"
		for side in $order; do
			if [ "$side" = A ]; then BIN=$BIN_A; else BIN=$BIN_B; fi
			URLPATH=/v2/models/mlp/infer serve_load "v2-1row-$side-r$round" 18083 "$common" "-conc 256 -dur 5s -width 1024"
			URLPATH=/v2/models/mlp/infer serve_load "v2-256rows-$side-r$round" 18084 "$common" "-conc 32 -rows 256 -dur 5s -width 1024"
			serve_load "predict-json-$side-r$round" 18081 "${common/bf16/fp32}" "-conc 256 -dur 5s -width 1024"
		done
	done
	python3 - "$OUT/http.jsonl" <<'PY' | tee "$OUT/ab.md"
import json, statistics, sys, collections
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    r = json.loads(line)
    load, side, _ = r["label"].rsplit("-", 2)
    runs[(load, side)].append(r)
print("| load | A rows/s (median) | B rows/s (median) | B/A | A p99 ms | B p99 ms | rounds |")
print("|---|---|---|---|---|---|---|")
for load in dict.fromkeys(k[0] for k in runs):
    a, b = runs[(load, "A")], runs[(load, "B")]
    ma = statistics.median(x["rows_per_s"] for x in a); mb = statistics.median(x["rows_per_s"] for x in b)
    pa = statistics.median(x["p99_ms"] for x in a); pb = statistics.median(x["p99_ms"] for x in b)
    print(f"| {load} | {ma:,.0f} | {mb:,.0f} | {mb/ma:.3f} | {pa:.2f} | {pb:.2f} | {len(a)}/{len(b)} |")
PY
	cp "$OUT/http.jsonl" "$OUT/ab.md" "$FINAL/"
	tar -C "$OUT" -czf "$FINAL/logs.tgz" . && rm -rf "$OUT"
}

case "${1:-}" in
build) build ;;
build-served) BUILD_SERVED=1 build ;;
run) run ;;
served) served ;;
ab) ab ;;
*) echo "usage: $0 build|build-served|run|served|ab" >&2; exit 2 ;;
esac
