"""How much a GEMM library's own dispatch table (``core.tile.library``) moves a preset's GEMMs against the generic
choice (the largest tile that fills the SMs, with split-K): every shape of aiconfigurator's GEMM grid
(benchmarks/kernels/aic_shapes.json) replayed as validate.py replays a collector row (a CUDA graph of 6 layers,
warm input, its fp8 input quantized by a kernel of its own and bf16 written), with and without the table.

    python benchmarks/library_dispatch.py                      # h100 and h200, vLLM's fp8 table
    python benchmarks/library_dispatch.py --preset h100 --library vllm --dtype fp8 --worst 10

Prints, per m range, the ratio (library / generic) of the replayed times: median, 10th / 90th percentile, the
largest, and how many shapes move by more than 25 %; ``--worst N`` lists the N shapes that move most. A report of
the model's own sensitivity (no measurement is read).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from validation.model import job
from validation.replay import simulate_jobs

SHAPES = Path(__file__).resolve().parent / "kernels" / "aic_shapes.json"
RANGES = (("m <= 16", 16), ("16 < m <= 64", 64), ("64 < m <= 128", 128), ("m > 128", None))


def ratios(preset: str, library: str, dtype: str, workers: int) -> list[tuple[float, tuple[int, int, int]]]:
    """(library time / generic time, (m, n, k)) of every grid shape on ``preset``."""
    io = {} if dtype in ("bf16", "fp16") else {"input_dtype": "bf16", "output_dtype": "bf16"}
    graph = "|execution=cuda_graph|warm=all|params=6"
    shapes = [tuple(s) for s in json.loads(SHAPES.read_text())["gemm"]]
    jobs = {(s, lib): job(preset + lib + graph, "gemm", m=s[0], n=s[1], k=s[2], dtype=dtype, **io)
            for s in shapes for lib in ("", f"|gemm_library={library}")}
    sims = simulate_jobs(jobs.values(), workers=workers)

    def replay(j) -> float:
        seconds, launch, dispatch, *_ = sims[j]
        return seconds - launch + dispatch

    return [(replay(jobs[s, f"|gemm_library={library}"]) / replay(jobs[s, ""]), s) for s in shapes]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", action="append", help="preset(s) (default: h100 and h200)")
    ap.add_argument("--library", default="vllm")
    ap.add_argument("--dtype", default="fp8")
    ap.add_argument("--worst", type=int, default=0, help="list the N shapes that move most")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args(argv)
    for preset in args.preset or ["h100", "h200"]:
        rows = ratios(preset, args.library, args.dtype, args.jobs)
        print(f"{preset}: {args.library} {args.dtype} table / generic choice, {len(rows)} shapes")
        low = 0
        for label, high in RANGES:
            r = sorted(x for x, (m, _, _) in rows if m > low and (high is None or m <= high))
            low = high or low
            if not r:
                continue
            n = len(r)
            print(f"  {label:14s} {n:4d} shapes  median {statistics.median(r):.2f}  p10 {r[n // 10]:.2f}  "
                  f"p90 {r[9 * n // 10]:.2f}  max {r[-1]:.2f}  > 1.25x: {sum(x > 1.25 for x in r)}  "
                  f"< 0.8x: {sum(x < 0.8 for x in r)}")
        for x, (m, n, k) in sorted(rows, key=lambda t: -abs(t[0] - 1))[:args.worst]:
            print(f"    {m}x{n}x{k}: {x:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
