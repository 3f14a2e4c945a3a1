#!/usr/bin/env bash
# CPU benchmarks on this machine, printed as tables:
#
#  1. HTTP: the seed's FastAPI + PyTorch server (bench/runtime/seed_server.py, one uvicorn
#     worker) against `gpuctl serve` with the built-in seed model, both under wrk with 64
#     connections POSTing the seed's 10 numbers. Rounds alternate between the servers and the
#     median round is reported, because other work on a shared machine moves single runs.
#  2. The reference MLP: gonum (gpuctl's CPU path) against PyTorch CPU at batch 1 and 256.
#
# Needs: Go, wrk, and Debian's python3-fastapi python3-uvicorn python3-torch (apt-get install).
# Knobs: ROUNDS (3), DUR (10s), CONNS (64), HTTP_ONLY=1 (skip part 2), PIN=1 runs each server on CPU 0 and wrk on CPU 1
# (taskset), so both servers get the same one core; PIN=0 lets them share all cores. NICE (e.g. -10,
# as root) raises both servers' and wrk's priority alike; default 0 (it did not steady the tails
# on the shared development machine).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-3}
DUR=${DUR:-10s}
CONNS=${CONNS:-64}
PIN=${PIN:-1}
PY=${PY:-/usr/bin/python3}
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

for t in wrk "$PY"; do command -v "$t" >/dev/null || { echo "missing $t (apt-get install wrk python3-fastapi python3-uvicorn python3-torch)"; exit 1; }; done
"$PY" -c 'import fastapi, uvicorn, torch' || { echo "missing python3-fastapi/uvicorn/torch"; exit 1; }
go build -o "$WORK/gpuctl-serve" ./runtime/cmd/gpuctl-serve
go build -o "$WORK/gpubench" ./runtime/cmd/gpubench

srv_cpu="" wrk_cpu=""
if [ "$PIN" = 1 ] && [ "$(nproc)" -ge 2 ]; then srv_cpu="taskset -c 0"; wrk_cpu="taskset -c 1"; fi
NICE=${NICE:-0}
if [ "$NICE" != 0 ]; then srv_cpu="nice -n $NICE $srv_cpu"; wrk_cpu="nice -n $NICE $wrk_cpu"; fi

wait_up() { for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$1/" >/dev/null && return 0; sleep 0.1; done; echo "server on $1 did not start"; exit 1; }

# run_wrk NAME PORT: one wrk run, appends "NAME rps p50 p99 errors" to results.
run_wrk() {
	local line
	line=$($wrk_cpu wrk -t1 -c"$CONNS" -d"$DUR" --timeout 5s -s bench/runtime/post.lua "http://127.0.0.1:$2/predict" | grep RESULT)
	echo "$1 $line" | tee -a "$WORK/results"
}

echo "== machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), pin=$PIN, nice=$NICE, $CONNS connections, $DUR x $ROUNDS rounds"
for r in $(seq 1 "$ROUNDS"); do
	(cd bench/runtime && exec $srv_cpu "$PY" -m uvicorn seed_server:app --host 127.0.0.1 --port 18101 --workers 1 --log-level warning) >"$WORK/seed.log" 2>&1 &
	pid=$!; wait_up 18101; run_wrk seed 18101; kill $pid; wait $pid 2>/dev/null || true
	GOMAXPROCS_FLAG=""
	[ -n "$srv_cpu" ] && GOMAXPROCS_FLAG="--threads 1"
	$srv_cpu "$WORK/gpuctl-serve" --addr 127.0.0.1:18102 --log-level warn --batching=on $GOMAXPROCS_FLAG >"$WORK/serve.log" 2>&1 &
	pid=$!; wait_up 18102; run_wrk gpuctl-batching 18102; kill $pid; wait $pid 2>/dev/null || true
	$srv_cpu "$WORK/gpuctl-serve" --addr 127.0.0.1:18103 --log-level warn --batching=auto $GOMAXPROCS_FLAG >"$WORK/serve.log" 2>&1 &
	pid=$!; wait_up 18103; run_wrk gpuctl 18103; kill $pid; wait $pid 2>/dev/null || true
	$srv_cpu "$WORK/gpuctl-serve" --addr 127.0.0.1:18104 --log-level warn --batching=auto --net-http-only $GOMAXPROCS_FLAG >"$WORK/serve.log" 2>&1 &
	pid=$!; wait_up 18104; run_wrk gpuctl-net-http 18104; kill $pid; wait $pid 2>/dev/null || true
done
[ "${HTTP_ONLY:-0}" = 1 ] && MLP=0

"$PY" - "$WORK/results" <<'PY'
import re, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    name = line.split()[0]
    kv = dict(re.findall(r"(\w+)=([\d.]+)", line))
    runs.setdefault(name, []).append({k: float(v) for k, v in kv.items()})
med = {n: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for n, rs in runs.items()}
s = med["seed"]
print("gpuctl: default flags (batching auto, which is off for the seed model on the CPU; the raw HTTP fast path on);")
print("gpuctl-batching: --batching=on; gpuctl-net-http: --net-http-only (every request through net/http)")
print("\nHTTP, seed model, POST /predict with 10 numbers (median of rounds)\n")
print("| server | req/s | p50 ms | p99 ms | errors | req/s vs seed | p99 vs seed |")
print("|---|---|---|---|---|---|---|")
for n in ("seed", "gpuctl", "gpuctl-batching", "gpuctl-net-http"):
    m = med[n]
    print(f"| {n} | {m['rps']:.0f} | {m['p50_ms']:.2f} | {m['p99_ms']:.2f} | {m['errors']:.0f} | {m['rps']/s['rps']:.1f}x | {m['p99_ms']/s['p99_ms']:.3f} |")
PY

[ "${MLP:-1}" = 1 ] || exit 0
echo
echo "== reference MLP on the CPU: gonum vs PyTorch ($(nproc) cores)"
"$WORK/gpubench" gen "$WORK/mlp" >/dev/null
: >"$WORK/mlp.jsonl"
"$WORK/gpubench" kernels -model "$WORK/mlp/mlp.json" -precisions cpu -cpu-batches 1,256 -target 2s -json "$WORK/mlp.jsonl"
"$PY" bench/runtime/torch_mlp_bench.py --model "$WORK/mlp/mlp.json" --device cpu --batches 1,256 --modes fp32 --target 2 --json "$WORK/mlp.jsonl"
"$PY" bench/runtime/compare.py "$WORK/mlp.jsonl"
