"""Side-by-side tables from gpubench and torch_mlp_bench JSON lines: rows/s
per device, precision and batch, and gpuctl / PyTorch."""
import json
import sys

rows = [json.loads(l) for f in sys.argv[1:] for l in open(f) if l.strip()]


def pick(impl, device, copies=False):
    return {(r["precision"], r["batch"]): r for r in rows
            if r["impl"] == impl and r.get("device") == device and bool(r.get("with_copies")) == copies}


torch_gpu = pick("torch", "cuda")
lt, gemmex, lt_copies = pick("gpuctl", "cuda"), pick("gpuctl-gemmex", "cuda"), pick("gpuctl", "cuda", True)
if lt:
    print("GPU, reference MLP 1024→4096→4096→1024, rows/s (compute on resident data; last column includes host↔device copies)\n")
    print("| precision | batch | PyTorch eager | gpuctl (cuBLASLt) | ratio | TFLOP/s | gpuctl (GemmEx+kernel) | ratio | gpuctl incl. copies |")
    print("|---|---|---|---|---|---|---|---|---|")
    for key in sorted(lt):
        o, t, g, c = lt[key], torch_gpu.get(key), gemmex.get(key), lt_copies.get(key)
        f = lambda r: f"{r['rows_per_s']:.0f}" if r else "-"
        ratio = lambda r: f"{r['rows_per_s'] / t['rows_per_s']:.2f}" if r and t else "-"
        print(f"| {key[0]} | {key[1]} | {f(t)} | {f(o)} | {ratio(o)} | {o['tflops']:.1f} | {f(g)} | {ratio(g)} | {f(c)} |")
gonum, torch_cpu = pick("gonum", "cpu", True), pick("torch", "cpu")
if gonum:
    print("\nCPU, reference MLP, rows/s\n")
    print("| batch | PyTorch CPU | gpuctl gonum | ratio |")
    print("|---|---|---|---|")
    for key in sorted(gonum):
        o, t = gonum[key], torch_cpu.get(key)
        r = f"{o['rows_per_s'] / t['rows_per_s']:.2f}" if t else "-"
        print(f"| {key[1]} | {t['rows_per_s'] if t else '-':.1f} | {o['rows_per_s']:.1f} | {r} |" if t else f"| {key[1]} | - | {o['rows_per_s']:.1f} | - |")
