"""Megatron-LM at scale with data parallelism: Narayanan et al. 2021 (SC21, "Efficient Large-Scale Language Model
Training on GPU Clusters Using Megatron-LM", arXiv:2104.04473), a held-out check (nothing in accelsim was set on it).

    python benchmarks/sc21.py [--only GLOB] [--markdown]

Each row is a published throughput on Selene (DGX A100 80GB nodes, 8 × 200 Gb/s HDR InfiniBand each): Table 1
(weak scaling, TFLOP/s per GPU) and Table 2's PTD-P rows (175B and 530B at three data-parallel sizes, micro-batch 1).
accelsim runs the ``gpt`` workload of the row's shape (seq 2048, vocab 51200, Adam, mixed precision, full activation
recomputation) with tensor_parallel t, pipeline_parallel p on dgx-a100 with chips = the row's GPUs (data parallel
d = GPUs / (t·p)), micro-batch 1 and micro_batches = batch / d, and its iteration time is turned into TFLOP/s per
GPU with the paper's own count (Eq. 3): 96·B·s·l·h²·(1 + s/(6h) + V/(16·l·h)) per iteration. Not published per row,
so assumed: micro-batch 1 (stated for Table 2's PTD-P rows), full recomputation (Sec. 3.5), and the interleaved
schedule only where Korthikanti et al. 2022 (Table 5) ran the same model on Selene with it (530B: 3 chunks a stage;
1T: none); the other Table 1 rows run 1F1B without interleaving.
"""

from __future__ import annotations

import argparse
import fnmatch
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from accelsim import api  # noqa: E402

S, V = 2048, 51200
# (row, heads, hidden, layers, t, p, GPUs, batch, published TFLOP/s per GPU, interleave)
ROWS = [
    ("T1 39.1B", 64, 8192, 48, 8, 2, 512, 1536, 138, 1),
    ("T1 76.1B", 80, 10240, 60, 8, 4, 1024, 1792, 140, 1),
    ("T1 145.6B", 96, 12288, 80, 8, 8, 1536, 2304, 148, 1),
    ("T1 310.1B", 128, 16384, 96, 8, 16, 1920, 2160, 155, 1),
    ("T1 529.6B", 128, 20480, 105, 8, 35, 2520, 2520, 163, 3),
    ("T1 1008B", 160, 25600, 128, 8, 64, 3072, 3072, 163, 1),
    ("T2 174.6B 384 GPUs", 96, 12288, 96, 8, 12, 384, 1536, 153, 1),
    ("T2 174.6B 768 GPUs", 96, 12288, 96, 8, 12, 768, 1536, 149, 1),
    ("T2 174.6B 1536 GPUs", 96, 12288, 96, 8, 12, 1536, 1536, 141, 1),
    ("T2 529.6B 560 GPUs", 128, 20480, 105, 8, 35, 560, 2240, 171, 1),
    ("T2 529.6B 1120 GPUs", 128, 20480, 105, 8, 35, 1120, 2240, 167, 1),
    ("T2 529.6B 2240 GPUs", 128, 20480, 105, 8, 35, 2240, 2240, 159, 1),
]


def model_flops(batch: int, layers: int, hidden: int) -> float:
    """Narayanan et al. 2021, Eq. 3: the FLOPs of one iteration with full recomputation."""
    return 96 * batch * S * layers * hidden ** 2 * (1 + S / (6 * hidden) + V / (16 * layers * hidden))


def run(row: tuple) -> dict:
    name, heads, hidden, layers, t, p, gpus, batch, published, v = row
    d = gpus // (t * p)
    workload = {"model": "gpt", "hidden": hidden, "heads": heads, "layers": layers, "seq_len": S, "vocab": V,
                "batch": 1, "micro_batches": batch // d, "mode": "training", "optimizer": "adam",
                "recompute": "full", "tensor_parallel": t, "pipeline_parallel": p, "pipeline_interleave": v}
    rep = api.simulate(workload, {"base": "dgx-a100", "chips": gpus}).to_dict()
    seconds = rep["seconds"]
    tflops = model_flops(batch, layers, hidden) / (seconds * gpus) / 1e12
    return {"row": name, "dp": d, "m": batch // d, "v": v, "published": published, "tflops": tflops,
            "seconds": seconds, "published_s": model_flops(batch, layers, hidden) / (published * 1e12 * gpus),
            "error": tflops / published - 1, "dp_s": rep["pipeline"]["optimizer_s"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="*", help="rows whose name matches this glob")
    ap.add_argument("--markdown", action="store_true", help="print a markdown table")
    args = ap.parse_args(argv)
    out = [run(r) for r in ROWS if fnmatch.fnmatch(r[0], args.only)]
    if args.markdown:
        print("| row | GPUs (t × p × d), m, v | published TFLOP/s a GPU (iteration) | accelsim | error |")
        print("|---|---|---:|---:|---:|")
    for o, r in zip(out, [r for r in ROWS if fnmatch.fnmatch(r[0], args.only)], strict=True):
        if args.markdown:
            print(f"| {o['row']} | {r[6]} ({r[4]} × {r[5]} × {o['dp']}), {o['m']}, {o['v']} | {o['published']} "
                  f"({o['published_s']:.2f} s) | {o['tflops']:.1f} ({o['seconds']:.2f} s) | {o['error']:+.1%} |")
        else:
            print(f"{o['row']:<22} d={o['dp']:<3} m={o['m']:<5} v={o['v']}  published {o['published']:>4} TFLOP/s "
                  f"({o['published_s']:7.2f} s)  accelsim {o['tflops']:6.1f} ({o['seconds']:7.2f} s, optimizer tail "
                  f"{o['dp_s']:.2f} s)  {o['error']:+6.1%}")
    if out:
        errors = [abs(o["error"]) for o in out]
        print(f"MAPE {sum(errors) / len(errors):.1%}, bias {sum(o['error'] for o in out) / len(out):+.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
