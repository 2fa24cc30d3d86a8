"""Interpolation error of the serving iteration cost (accelsim/serving/cost.py) against direct simulation.

    python benchmarks/serve_interp.py                       # the example serving preset (llama2_7b on h100)
    python benchmarks/serve_interp.py FILE.yaml --set cost.batch_ratio=4

Builds the grid the serving run would use, then simulates shapes that lie between its points (prefill token counts
at the geometric middle and the quarters of each grid interval; 3 and 4 prompts of 128, 384 and 575 tokens in one iteration; decode
batches at the geometric middle of each batch interval crossed
with KV lengths at a third and two thirds of each interval of the KV lengths a batch that size can reach, and the
longest it can reach) and prints each shape's interpolated and simulated seconds,
the relative error, and the largest and mean absolute errors per kind.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from accelsim.config.serving import load_serving  # noqa: E402
from accelsim.serving.cost import build_grid, evenly, footprint, kv_blocks, shape, simulate_seconds  # noqa: E402


def between(points: list[int], *, geometric: bool, fractions: tuple[float, ...] = (0.5,)) -> list[int]:
    """Integers strictly inside each interval of ``points`` (at the given fractions, geometric or linear)."""
    out = []
    for a, b in zip(points, points[1:], strict=False):
        for f in fractions:
            x = round(a * (b / a) ** f) if geometric else round(a + (b - a) * f)
            if a < x < b and x not in out:
                out.append(x)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("serving", nargs="?", default="llama2_7b_h100")
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    args = ap.parse_args(argv)
    spec = load_serving(args.serving, args.overrides)
    s, opts = spec.serve, spec.options.model_copy(update={"plots": False, "trace": False})
    t0 = time.perf_counter()
    blocks = kv_blocks(footprint(spec.model, spec.arch, s.engine), spec.arch, s.engine)
    assert isinstance(blocks, int), blocks
    grid = build_grid(spec.model, spec.arch, spec.options, s.engine, s.cost, blocks * s.engine.block_size)
    print(f"grid: {grid.simulations} simulations in {time.perf_counter() - t0:.1f} s; prefill tokens "
          f"{grid.prefill_tokens}, decode batches {grid.decode_batches}, KV {grid.decode_kv}")
    errors: dict[str, list[float]] = {"prefill": [], "prompts": [], "decode": []}
    # the geometric middle of each token interval, and its quarter, half and three quarters (the simulated prefill's
    # per-token cost is not smooth between grid points: tile and wave quantisation)
    cases = [("prefill", n, None) for n in sorted({*between(grid.prefill_tokens, geometric=True),
                                                   *between(grid.prefill_tokens, geometric=False,
                                                            fractions=(0.25, 0.5, 0.75))})]
    budget = s.engine.max_num_batched_tokens
    cases += [("prompts", k, m) for k in (3, 4) for m in (128, 384, 575) if k * m <= budget]
    capacity = blocks * s.engine.block_size  # a decode batch never holds more KV than the replica
    for b in between(grid.decode_batches, geometric=True) or grid.decode_batches:
        row = evenly(grid.decode_kv[0][0], min(s.engine.max_model_len, capacity // b), s.cost.kv_points)
        # ... and the longest KV the batch can reach (on the capacity boundary, where the next grid batch's row
        # has ended)
        cases += [("decode", b, k) for k in [*between(row, geometric=False, fractions=(1 / 3, 2 / 3)), row[-1]]]
    print(f"{'shape':<28}{'interpolated s':>16}{'simulated s':>14}{'error':>9}")
    for kind, x, k in cases:
        if kind == "prompts":  # k prompts of m tokens in one iteration: k·m tokens, k·m² scores
            guess = grid.prefill(x * k, x * k * k)
            truth = simulate_seconds(shape(spec.model, phase="prefill", seq_len=k, batch=x), spec.arch, opts,
                                     graphs=s.engine.cuda_graphs)
            label = f"prefill {x} prompts × {k}"
        elif kind == "prefill":
            guess = grid.prefill(x)
            truth = simulate_seconds(shape(spec.model, phase="prefill", seq_len=x, batch=1), spec.arch, opts,
                                     graphs=s.engine.cuda_graphs)
            label = f"prefill {x} tokens"
        else:
            guess = grid.decode(x, k)
            truth = simulate_seconds(shape(spec.model, phase="decode", kv_len=k, batch=x), spec.arch, opts,
                                     graphs=s.engine.cuda_graphs)
            label = f"decode batch {x}, KV {k}"
        err = guess / truth - 1
        errors[kind].append(abs(err))
        print(f"{label:<28}{guess:>16.6f}{truth:>14.6f}{err:>+9.2%}")
    for kind, errs in errors.items():
        if errs:
            print(f"{kind}: {len(errs)} shapes, mean |error| {sum(errs) / len(errs):.2%}, max {max(errs):.2%}")
    return 0 if all(math.isfinite(e) for errs in errors.values() for e in errs) else 1


if __name__ == "__main__":
    sys.exit(main())
