#!/usr/bin/env bash
# gpuctl's CPU path against PyTorch CPU on the reference MLP, interleaved: each round runs every
# gpubench binary given and then PyTorch, so load from other work hits all of them alike; the
# summary gives each one's median rows/s and the median of its per-round ratios to PyTorch.
#
#   bench/runtime/cpu-vs-torch.sh MODEL_JSON GPUBENCH... (each NAME=PATH or PATH)
#   ROUNDS=5 THREADS=$(nproc) BATCHES=1,256 TARGET=200ms PY=python3 JSON=out.jsonl
#
# On Debian, python3-torch uses the reference BLAS (libblas3): run with
# LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-pthread (apt-get install libopenblas0-pthread)
# for a PyTorch that uses OpenBLAS, as PyTorch's own wheels use MKL or oneDNN.
set -euo pipefail
model=${1:?usage: cpu-vs-torch.sh MODEL_JSON GPUBENCH...}
shift
ROUNDS=${ROUNDS:-5} THREADS=${THREADS:-$(nproc)} BATCHES=${BATCHES:-1,256} TARGET=${TARGET:-200ms}
PY=${PY:-python3}
here=$(cd "$(dirname "$0")" && pwd)
json=${JSON:-$(mktemp)}
: >"$json"
for r in $(seq 1 "$ROUNDS"); do
	for b in "$@"; do
		name=${b%%=*} bin=${b#*=}
		[ "$name" = "$b" ] && name=gpuctl
		GOMAXPROCS=$THREADS "$bin" kernels -model "$model" -precisions cpu -cpu-batches "$BATCHES" -target "$TARGET" |
			awk -v n="$name" -v r="$r" '$1=="gonum" && $3=="batch"{print "{\"impl\":\"" n "\",\"round\":" r ",\"batch\":" $4 ",\"rows_per_s\":" $7 "}"}' >>"$json"
	done
	OMP_NUM_THREADS=$THREADS "$PY" "$here/torch_mlp_bench.py" --model "$model" --device cpu --batches "$BATCHES" --modes fp32 \
		--threads "$THREADS" --target "${TARGET%ms}e-3" |
		awk -v r="$r" '$1=="torch" && $3=="batch"{print "{\"impl\":\"torch\",\"round\":" r ",\"batch\":" $4 ",\"rows_per_s\":" $7 "}"}' >>"$json"
done
"$PY" - "$json" "$THREADS" <<'PY'
import collections, json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
by = collections.defaultdict(dict)
for r in rows:
    by[(r["impl"], r["batch"])][r["round"]] = r["rows_per_s"]
impls = list(dict.fromkeys(r["impl"] for r in rows if r["impl"] != "torch"))
print(f"\nreference MLP on the CPU, {sys.argv[2]} threads, rows/s: median of rounds; ratio = median of per-round ratios to PyTorch\n")
print("| batch | PyTorch | " + " | ".join(f"{i} | {i} / PyTorch" for i in impls) + " |")
print("|---|---|" + "---|---|" * len(impls))
for b in sorted({r["batch"] for r in rows}):
    t = by[("torch", b)]
    cells = []
    for i in impls:
        g = by[(i, b)]
        ratios = [g[k] / t[k] for k in g if k in t]
        cells += [f"{statistics.median(g.values()):.0f}", f"{statistics.median(ratios):.2f} ({min(ratios):.2f}–{max(ratios):.2f})"]
    print(f"| {b} | {statistics.median(t.values()):.0f} | " + " | ".join(cells) + " |")
PY
