"""Derive each GPU preset's ``kernel_dispatch`` from a published chain of small graph-replayed kernels.

    python benchmarks/kernel_dispatch.py [--measured PRESET=US ...]

te42kyfo/gpu-benches (Ernst, NHR@FAU) ``gpu-small-kernels`` replays 10,000 (30,000 in its newer
``main.cu``) dependent SCALE kernels (A = 0.25 B, fp64) as one CUDA / HIP graph; at its smallest size each kernel moves 4096 x 2 x 8 B = 64 KiB, and the best
bandwidth over block sizes gives the time per kernel (BENCH below, GB/s, with the file it is read from). The model's
own cost of the same kernel is a chain of dependent 32 KiB-in / 32 KiB-out element-wise ops under
``execution: cuda_graph`` with ``kernel_dispatch`` 0 (:func:`per_kernel_s`); the preset's dispatch is the
difference. The script prints, per preset, the measured time, the model's kernel without dispatch, the derived
dispatch and the preset's value, and the chain's time with the preset as it is (which should equal the measured
one). Rerun it when a preset's latencies or the engine change: the derived value moves with them.

``--measured h200=1.343`` derives the dispatch from your own measurement of the same chain instead (µs per
kernel; benchmarks/kernels/measure_gpu.py's ``dependent_scale_chain`` row: 64 KiB fp64 in-place scalings in one
graph). The presets are not changed by it: it prints what the value would be.
"""

from __future__ import annotations

import argparse
import sys

from accelsim.api import simulate
from accelsim.builders.tlayers import TransformerBuilder
from accelsim.config import load_arch

KIB64 = 65_536  # bytes one SCALE kernel of 4096 doubles reads and writes
# preset -> (best GB/s of the 4096-element row, the gpu-benches file it is read from, at the repository's newest
# version of that file: h200_graph.txt @11f5daa read 30 GB/s, an earlier run the author replaced at c35574e)
BENCH = {
    "a100": (49, "gpu-small-kernels/a100_80_graph.txt @11f5daa (A100-SXM4-80GB)"),
    "h100": (52, "gpu-small-kernels/h200_graph.txt @c35574e (H200: the H100's GH100 die)"),
    "h200": (52, "gpu-small-kernels/h200_graph.txt @c35574e"),
    "l40s": (70, "gpu-small-kernels/l40_graph.txt @c35574e (L40: the L40S's AD102 die)"),
    "mi210": (32, "gpu-small-kernels/mi210_rocm60_graph.txt @11f5daa (ROCm 6.0)"),
}


def chain(n: int):
    """n dependent element-wise kernels, each reading the 32 KiB (8192 fp32) its predecessor wrote and writing
    32 KiB: the benchmark's SCALE chain."""
    b = TransformerBuilder("chain", {"x": (1, 8192)}, dtype="fp32")
    x = "x"
    for i in range(n):
        x = b.gelu(x, name=f"g{i}")
    return b.build({"model": "chain"})


def per_kernel_s(arch) -> float:
    """Seconds one more kernel adds to the chain on ``arch`` (a preset name or an Arch) under CUDA graphs."""
    ten, twenty = (simulate(chain(n), arch, execution="cuda_graph").seconds for n in (10, 20))
    return (twenty - ten) / 10


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--measured", action="append", default=[], metavar="PRESET=US",
                    help="a chain you measured: microseconds per kernel on that preset's GPU (repeatable)")
    args = ap.parse_args(argv)
    rows = {name: (KIB64 / (gb_s * 1e9), f"te42kyfo/gpu-benches {source}") for name, (gb_s, source) in BENCH.items()}
    if args.measured:
        rows = {}
        for item in args.measured:
            name, _, us = item.partition("=")
            try:
                rows[name] = (float(us) * 1e-6, "--measured")
            except ValueError:
                print(f"--measured {item!r}: expected PRESET=MICROSECONDS", file=sys.stderr)
                return 2
    archs = {}
    for name in rows:
        try:
            archs[name] = load_arch(name)
        except Exception as e:  # an unknown preset: one line, exit 2
            print(f"--measured {name}: {str(e).splitlines()[0]}", file=sys.stderr)
            return 2
    print(f"{'preset':8} {'measured us':>12} {'model w/o dispatch':>19} {'derived us':>11} {'preset us':>10} "
          f"{'chain now us':>13}  source")
    for name, (measured, source) in rows.items():
        arch = archs[name]
        body = per_kernel_s(arch.model_copy(update={"kernel_dispatch": 0.0}))
        print(f"{name:8} {measured * 1e6:12.3f} {body * 1e6:19.3f} {(measured - body) * 1e6:11.2f} "
              f"{arch.kernel_dispatch * 1e6:10.2f} {per_kernel_s(arch) * 1e6:13.3f}  {source}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
