"""How much of a file's error is inside its measurement resolution.

    python benchmarks/resolution.py [--csv runs/validation/validation.csv] [--files 'vidur/*_ops.csv'] [--step-us 1]

Vidur's per-operator times are written in milliseconds with three decimals (benchmarks/validation/vidur.py): a
row of 0.002 ms is any kernel from 1.5 to 2.5 µs. For kernels of a few microseconds that rounding alone is a
10-25 % error. This reads validate.py's ``validation.csv`` and prints, per operator (the key's third word, as
vidur.py writes it) and in total, the plain MAPE beside the MAPE against the interval the written value stands for
(measured ± step / 2: 0 inside it, else the distance to its nearer end over the written value), for all rows and
for those under 5.5 µs. It changes no verdict: validate.py's targets use the plain error.
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import statistics
import sys
from collections import defaultdict
from pathlib import Path


def interval_error(measured: float, simulated: float, step: float) -> float:
    """|error| against [measured - step/2, measured + step/2], relative to the written value."""
    low, high = measured - step / 2, measured + step / 2
    if low <= simulated <= high:
        return 0.0
    return (low - simulated if simulated < low else simulated - high) / measured


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--csv", type=Path, default=Path("runs/validation/validation.csv"))
    ap.add_argument("--files", default="vidur/*_ops.csv", help="fnmatch glob on the file column")
    ap.add_argument("--step-us", type=float, default=1.0, help="the resolution the file writes, in µs")
    args = ap.parse_args(argv)
    if not args.csv.is_file():
        print(f"{args.csv}: not found (run benchmarks/validate.py first)", file=sys.stderr)
        return 2
    step = args.step_us * 1e-6
    groups: dict[str, list[tuple[float, float]]] = defaultdict(list)
    with open(args.csv, newline="") as f:
        for r in csv.DictReader(f):
            if fnmatch.fnmatchcase(r["file"], args.files):
                words = r["key"].split()
                groups[words[2] if len(words) > 2 else "?"].append((float(r["measured_s"]),
                                                                     float(r["simulated_s"])))
    if not groups:
        print(f"no rows of {args.files!r} in {args.csv}", file=sys.stderr)
        return 2
    print(f"{'op':26s} {'rows':>5s} {'MAPE':>6s} {'in res.':>7s}  {'< 5.5us':>7s} {'MAPE':>6s} {'in res.':>7s}")
    every = [x for rows in groups.values() for x in rows]
    for op, rows in sorted(groups.items()) + [("all", every)]:
        small = [(m, s) for m, s in rows if m < 5.5e-6]

        def mape(xs):
            return f"{100 * statistics.mean(abs(s / m - 1) for m, s in xs):5.1f}%" if xs else f"{'-':>6s}"

        def res(xs):
            return f"{100 * statistics.mean(interval_error(m, s, step) for m, s in xs):6.1f}%" if xs else f"{'-':>7s}"
        print(f"{op:26s} {len(rows):5d} {mape(rows)} {res(rows)}  {len(small):7d} {mape(small)} {res(small)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
