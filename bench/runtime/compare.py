"""Prints the side-by-side table of gpubench and torch_mlp_bench JSON lines:
rows/s for each precision and batch, and gpuctl / PyTorch."""
import json
import sys

rows = [json.loads(l) for f in sys.argv[1:] for l in open(f) if l.strip()]
torch = {(r["precision"], r["batch"]): r for r in rows if r["impl"] == "torch"}
ours = {(r["precision"], r["batch"]): r for r in rows if r["impl"] in ("gpuctl", "gonum") and not r.get("with_copies") or r["impl"] == "gonum"}
copies = {(r["precision"], r["batch"]): r for r in rows if r["impl"] == "gpuctl" and r.get("with_copies")}
print("| precision | batch | PyTorch rows/s | gpuctl rows/s | ratio | gpuctl TFLOP/s | gpuctl incl. host copies rows/s |")
print("|---|---|---|---|---|---|---|")
for key in sorted(ours, key=lambda k: (k[0], k[1])):
    o, t, c = ours[key], torch.get(key), copies.get(key)
    ratio = f"{o['rows_per_s'] / t['rows_per_s']:.2f}" if t else "-"
    tr = f"{t['rows_per_s']:.0f}" if t else "-"
    cr = f"{c['rows_per_s']:.0f}" if c else "-"
    print(f"| {key[0]} | {key[1]} | {tr} | {o['rows_per_s']:.0f} | {ratio} | {o['tflops']:.1f} | {cr} |")
