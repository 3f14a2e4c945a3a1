"""PyTorch eager baseline for the reference MLP, timed the way gpubench
times gpuctl: median over repetitions of a loop closed by one synchronize.
Loads the same weights (mlp.safetensors written by runtime/cmd/mlpgen).

  python3 torch_mlp_bench.py --model /tmp/mlp/mlp.json --device cuda --json out.jsonl
"""
import argparse
import json
import os
import statistics
import struct
import time

import numpy as np
import torch


def read_safetensors(path):
    with open(path, "rb") as f:
        b = f.read()
    (n,) = struct.unpack("<Q", b[:8])
    header = json.loads(b[8:8 + n])
    data = b[8 + n:]
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        assert e["dtype"] == "F32", e["dtype"]
        lo, hi = e["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[lo:hi], dtype="<f4").reshape(e["shape"]).copy())
    return out


def build(arch_path):
    arch = json.load(open(arch_path))
    ts = read_safetensors(os.path.join(os.path.dirname(arch_path), arch["weights"]))
    layers = []
    for l in arch["layers"]:
        if l["type"] == "linear":
            w = ts[l["weight"]]
            lin = torch.nn.Linear(w.shape[1], w.shape[0], bias="bias" in l)
            with torch.no_grad():
                lin.weight.copy_(w)
                if "bias" in l:
                    lin.bias.copy_(ts[l["bias"]])
            layers.append(lin)
        elif l["type"] == "relu":
            layers.append(torch.nn.ReLU())
        else:
            raise SystemExit("unsupported layer " + l["type"])
    return torch.nn.Sequential(*layers), arch["inputs"]


def flops(net):
    return sum(2 * m.in_features * m.out_features for m in net if isinstance(m, torch.nn.Linear))


def time_it(fn, sync, target=0.2, reps=5):
    for _ in range(3):
        fn()
    sync()
    t = time.perf_counter()
    fn()
    sync()
    one = time.perf_counter() - t
    iters = max(1, int(target / max(one, 1e-6)))
    per = []
    for _ in range(reps):
        sync()
        t = time.perf_counter()
        for _ in range(iters):
            fn()
        sync()
        per.append((time.perf_counter() - t) / iters)
    return statistics.median(per)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--batches", default="1,32,256,1024,4096")
    ap.add_argument("--modes", default="fp32,tf32,bf16")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--target", type=float, default=0.2)
    ap.add_argument("--json", default="")
    a = ap.parse_args()
    net, width = build(a.model)
    fl = flops(net)
    dev = torch.device(a.device)
    if a.device == "cpu":
        torch.set_num_threads(a.threads)
        sync = lambda: None
    else:
        sync = torch.cuda.synchronize
    jf = open(a.json, "a") if a.json else None
    print(f"torch {torch.__version__} device={a.device} threads={torch.get_num_threads()}")
    for mode in a.modes.split(","):
        torch.backends.cuda.matmul.allow_tf32 = mode == "tf32"
        torch.backends.cudnn.allow_tf32 = mode == "tf32"
        dtype = torch.bfloat16 if mode == "bf16" else torch.float32
        m = net.to(dev, dtype=dtype).eval()
        for b in [int(x) for x in a.batches.split(",")]:
            x = torch.randn(b, width, device=dev, dtype=dtype)
            with torch.inference_mode():
                sec = time_it(lambda: m(x), sync, a.target, 5 if a.device != "cpu" else 3)
            r = {"impl": "torch", "device": a.device, "precision": mode, "batch": b, "ms": sec * 1e3, "rows_per_s": b / sec,
                 "tflops": fl * b / sec / 1e12, "with_copies": False}
            print(f"torch  {mode:5s} batch {b:5d}  {sec*1e3:9.3f} ms  {b/sec:12.0f} rows/s  {r['tflops']:7.1f} TFLOP/s")
            if jf:
                jf.write(json.dumps(r) + "\n")
    if jf:
        jf.close()


if __name__ == "__main__":
    main()
