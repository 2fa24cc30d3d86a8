"""Which kernels a GPU's libraries launch, with their launch geometry: the facts the cost models assume.

    python benchmarks/kernels/kernel_names.py --out OUTDIR [--budget-s 120] [--sections gemm,attention,norms]
    python benchmarks/kernels/kernel_names.py --out /tmp/kn --dry      # CPU: checks the script, no GPU figures

Each case runs once to warm up, then once under torch.profiler; every device kernel it launched is written to
OUTDIR/kernel_names.csv with the name the profiler gives (cuBLAS / cuBLASLt names carry their tile, cluster and
split-K, e.g. ``..._tilesize128x128x64_...`` or ``nvjet_tst_128x256_64x4_2x1_...``), its grid and block, registers
per thread, shared memory (static + dynamic) and device time. What the models assume and this would show:

* ``gemm``: torch.nn.functional.linear on the shared A100 grid's shapes (benchmarks/kernels/aic_shapes.json) in
  bf16: the tile shape, cluster and split-K cuBLAS picks per shape, which ``accelsim.cost.gpu_tiles.choose``
  derives from a rule (the largest tile that fills every SM) and which the mid-size Hopper rows contradict
  (docs/validation.md, "Hopper's 2-CTA clusters").
* ``attention``: scaled_dot_product_attention's FLASH backend on the collector's prefill and decode shapes: the
  grid of FlashAttention-2's kernels (query tiles x heads x batch, split-KV) and whether a combine kernel runs
  (``accelsim.cost.attention``: dense_tile, kv_splits, lone CTAs).
* ``norms``: F.layer_norm, F.rms_norm and torch.softmax over rows of 1,024 to 32,768 fp16 elements: one kernel or
  several, and its block size (how many rows are in flight, which decides whether a re-read row is still in the L2).

PyTorch only (an optional extra); no accelsim import, so it runs on a bare machine with a GPU.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from measure_gpu import Clock, log, parse_cli, run_sections  # noqa: E402

COLUMNS = ["section", "case", "dtype", "kernel", "grid", "block", "registers", "shared_bytes", "dur_us"]


def kernels_of(torch, fn, dev: str) -> list[dict]:
    """The device kernels (CPU ops in a dry run) one call of ``fn`` launches, from the profiler's trace events."""
    from torch.profiler import ProfilerActivity, profile

    fn()  # warm-up: autotuning, workspace allocation, first-call library loads
    activities = [ProfilerActivity.CUDA] if dev == "cuda" else [ProfilerActivity.CPU]
    with profile(activities=activities) as prof:
        fn()
        if dev == "cuda":
            torch.cuda.synchronize()
    with tempfile.TemporaryDirectory() as tmp:
        trace = Path(tmp) / "trace.json"
        prof.export_chrome_trace(str(trace))
        events = json.loads(trace.read_text()).get("traceEvents", [])
    want = "kernel" if dev == "cuda" else "cpu_op"
    return [e for e in events if e.get("cat") == want and e.get("ph") == "X"]


def write_kernels(w, section: str, case: str, dtype: str, events: list[dict]) -> None:
    for e in events:
        a = e.get("args", {})
        shared = sum(int(a.get(k, 0) or 0) for k in ("shared memory", "static shared memory", "dynamic shared memory"))
        w.writerow([section, case, dtype, e.get("name", ""), "x".join(map(str, a.get("grid", []))),
                    "x".join(map(str, a.get("block", []))), a.get("registers per thread", ""), shared or "",
                    f"{float(e.get('dur', 0)):.3f}"])


def gemm_section(torch, w, clock: Clock, dev: str, shapes: list[tuple[int, int, int]]) -> None:
    dtype = torch.bfloat16 if dev == "cuda" else torch.float32
    for m, n, k in shapes:
        if clock.left() <= 0:
            log("gemm: budget spent")
            return
        x = torch.randn(m, k, device=dev, dtype=dtype)
        wt = torch.randn(n, k, device=dev, dtype=dtype)
        def call(x=x, wt=wt):
            return torch.nn.functional.linear(x, wt)
        write_kernels(w, "gemm", f"{m}x{n}x{k}", "bf16", kernels_of(torch, call, dev))


def attention_section(torch, w, clock: Clock, dev: str, shapes: dict) -> None:
    from torch.nn.attention import SDPBackend, sdpa_kernel

    dtype = torch.bfloat16 if dev == "cuda" else torch.float32
    backend = SDPBackend.FLASH_ATTENTION if dev == "cuda" else SDPBackend.MATH
    for phase, rows in shapes.items():
        for b, h, kvh, d, q, kv in rows:
            if clock.left() <= 0:
                log("attention: budget spent")
                return
            qt = torch.randn(b, h, q, d, device=dev, dtype=dtype)
            kt = torch.randn(b, kvh, kv, d, device=dev, dtype=dtype)
            vt = torch.randn(b, kvh, kv, d, device=dev, dtype=dtype)

            def call(qt=qt, kt=kt, vt=vt, causal=q > 1, gqa=kvh < h):
                with sdpa_kernel(backend):
                    return torch.nn.functional.scaled_dot_product_attention(qt, kt, vt, is_causal=causal,
                                                                            enable_gqa=gqa)
            write_kernels(w, "attention", f"{phase} b{b} h{h}/{kvh} d{d} q{q} kv{kv}", "bf16",
                          kernels_of(torch, call, dev))


def norms_section(torch, w, clock: Clock, dev: str, sizes: list[tuple[int, int]]) -> None:
    dtype = torch.float16 if dev == "cuda" else torch.float32
    for rows, cols in sizes:
        x = torch.randn(rows, cols, device=dev, dtype=dtype)
        g = torch.ones(cols, device=dev, dtype=dtype)
        ops = {"layer_norm": lambda x=x, g=g: torch.nn.functional.layer_norm(x, (x.shape[-1],), g),
               "rms_norm": lambda x=x, g=g: torch.nn.functional.rms_norm(x, (x.shape[-1],), g),
               "softmax": lambda x=x: torch.softmax(x, dim=-1)}
        for name, fn in ops.items():
            if clock.left() <= 0:
                log("norms: budget spent")
                return
            write_kernels(w, "norms", f"{name} {rows}x{cols}", "fp16", kernels_of(torch, fn, dev))


def main(argv=None) -> int:
    cli = parse_cli(argv, __doc__, 120.0, "gemm,attention,norms")
    if cli is None:
        return 2
    args, torch, dev = cli
    shapes = json.loads((HERE / "aic_shapes.json").read_text())
    gemm = [tuple(s) for s in shapes["gemm"]]
    attn = {p: shapes[p] for p in ("context_attention", "generation_attention")}
    norms = [(r, c) for r in (4096, 16384) for c in (1024, 4096, 8192, 16384, 32768)]
    if args.dry:
        gemm = [(1, 128, 128), (64, 256, 128)]
        attn = {"context_attention": [[1, 4, 2, 16, 32, 32]], "generation_attention": [[1, 4, 2, 16, 1, 32]]}
        norms = [(4, 64)]
    clock = Clock(args.budget_s)
    with open(args.out / "kernel_names.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        sections = {"gemm": lambda: gemm_section(torch, w, clock, dev, gemm),
                    "attention": lambda: attention_section(torch, w, clock, dev, attn),
                    "norms": lambda: norms_section(torch, w, clock, dev, norms)}
        run_sections(torch, args.out, dev, clock, args.sections.split(","), sections)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
