"""The small rows of the A100 FlashAttention files, grouped by the host-side ops each call makes.

    python benchmarks/attention_levels.py [--csv runs/validation/validation.csv] [--below-us 30]

vLLM's FlashAttention-2 call (vllm-project/flash-attention csrc/flash_attn/flash_api.cpp ``mha_varlen_fwd``, as
the aiconfigurator collector drives it through ``FlashAttentionImpl.forward``) launches, besides the attention
kernel and vLLM's KV-cache write, for a decode step with GQA (``seqlenq_ngroups_swapped``):

* ``q copy``: the query reshape ``(b, kv_heads, group) -> (b·group, kv_heads)`` is a copy unless batch or
  kv_heads is 1 (else a view);
* ``split``: with too few CTAs to fill the SMs, two ``torch::empty`` partial buffers and the combine kernel
  (num_splits_heuristic; each row is classed by what ``accelsim.cost.attention`` prices for it);
* the copy of the result into the caller's output buffer (always; a memcpy when both sides are contiguous).

This reads validate.py's ``validation.csv`` and prints, per class of rows (prefill; decode; decode + q copy; decode
+ split; decode + both), the measured and simulated times of the rows under ``--below-us``: their minimum and
median, and the class's median step over the plain decode class. Device time grows with the bytes and the
CTAs; a class whose measured rows sit on one level whatever their size, a fixed step above another class, is
host time per call. It changes no verdict (see docs/validation.md, "The A100 attention files' small rows").
"""

from __future__ import annotations

import argparse
import csv
import re
import statistics
import sys
from pathlib import Path

KEY = re.compile(r"b(\d+) h(\d+)/(\d+) d(\d+) q(\d+) kv(\d+)$")
FILES = {"aiconfigurator/a100_sxm/context_attention.csv": "prefill",
         "aiconfigurator/a100_sxm/generation_attention.csv": "decode"}


def decode_class(b: int, h: int, kvh: int, kv: int, dh: int, arch) -> str:
    """Which host-side ops vLLM's FlashAttention-2 decode call adds for a row (module docstring), as the attention
    model prices the call on ``arch``: two copy kernels when the query is copied (``swap_copies``), a split when
    its CTAs are split (``split_kv``)."""
    from accelsim.cost import attention
    from accelsim.ir import Op, OpKind

    op = Op("attention", OpKind.ATTENTION, (), (), (), dtype="bf16",
            attrs={"batch": b, "heads": h, "kv_heads": kvh, "q_len": 1, "kv_len": kv, "head_dim": dh})
    copy = len(attention.swap_copies(attention.shape(op), op.elem_bytes, arch)) == 2
    split = attention.price(op, arch.core.systolic, arch).details["split_kv"] > 1
    return "decode" + (" + q copy" if copy else "") + (" + split" if split else "")


def classes(path: Path, below: float, preset: str = "a100") -> dict[str, list[tuple[str, float, float]]]:
    """The rows of ``validation.csv`` under ``below`` seconds measured, by class: (key, measured, simulated)."""
    from accelsim.config import load_arch

    arch = load_arch(preset)  # a100: its attention kernel is flash2, the kernel vLLM runs there
    out: dict[str, list[tuple[str, float, float]]] = {}
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            phase = FILES.get(r["file"])
            m = KEY.match(r["key"])
            if phase is None or m is None or float(r["measured_s"]) >= below:
                continue
            b, h, kvh, dh, _, kv = (int(x) for x in m.groups())
            name = phase if phase == "prefill" else decode_class(b, h, kvh, kv, dh, arch)
            out.setdefault(name, []).append((r["key"], float(r["measured_s"]), float(r["simulated_s"])))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--csv", type=Path, default=Path("runs/validation/validation.csv"))
    ap.add_argument("--below-us", type=float, default=30.0, help="rows measured under this many µs")
    args = ap.parse_args(argv)
    if not args.csv.is_file():
        print(f"{args.csv}: not found (run benchmarks/validate.py first)", file=sys.stderr)
        return 2
    groups = classes(args.csv, args.below_us * 1e-6)
    if not groups:
        print(f"no A100 FlashAttention rows under {args.below_us} us in {args.csv}", file=sys.stderr)
        return 2
    plain = groups.get("decode", [("", 0.0, 0.0)])  # the steps are over the plain decode class
    base, base_sim = (statistics.median(r[i] for r in plain) for i in (1, 2))
    print(f"rows measured under {args.below_us:g} us, times in us")
    print(f"{'class':24s} {'rows':>4s} {'meas min':>8s} {'median':>7s} {'step':>6s}   {'sim min':>7s} {'median':>7s} "
          f"{'step':>6s}")
    for name in sorted(groups, key=lambda n: (n != "prefill", n.count("+"), n)):
        rows = groups[name]
        meas = [m for _, m, _ in rows]
        sim = [s for _, _, s in rows]
        step = f"{(statistics.median(meas) - base) * 1e6:+6.1f}" if name.startswith("decode") else f"{'':6s}"
        sstep = f"{(statistics.median(sim) - base_sim) * 1e6:+6.1f}" if name.startswith("decode") else f"{'':6s}"
        print(f"{name:24s} {len(rows):4d} {min(meas) * 1e6:8.2f} {statistics.median(meas) * 1e6:7.2f} {step}   "
              f"{min(sim) * 1e6:7.2f} {statistics.median(sim) * 1e6:7.2f} {sstep}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
