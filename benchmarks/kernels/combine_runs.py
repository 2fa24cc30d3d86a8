"""Combine repeated runs of measure_gpu.py into one data set: each row's median over the runs, with its min and max.

    python benchmarks/kernels/combine_runs.py RUN_DIR [RUN_DIR ...] --out DIR

Every RUN_DIR holds one run's CSVs (measure_gpu.py --out). Rows are matched on every column but ``latency_us``;
a row missing from some run is kept with the runs that have it. ``attention_cudnn.csv`` (one file with a ``phase``
column) is split into ``context_attention_cudnn.csv`` and ``generation_attention_cudnn.csv``, aiconfigurator's
form, so that validate.py replays them like the FlashAttention-2 files. The runs themselves are copied under
``DIR/verbatim/run<i>/`` (validate.py does not read ``verbatim`` folders).
"""

from __future__ import annotations

import argparse
import csv
import shutil
import statistics
from pathlib import Path

VALUES = ("latency_us", "sm_clock_mhz", "power_w")
"""Columns measured per run (each row's median over the runs); every other column names the row."""


def combine(runs: list[Path], name: str) -> tuple[list[str], list[list[str]]]:
    header: list[str] = []
    rows: dict[tuple, list[dict[str, str]]] = {}
    for run in runs:
        p = run / name
        if not p.exists():
            continue
        with open(p, newline="") as f:
            for r in csv.DictReader(f):
                header = header or list(r)
                rows.setdefault(tuple(v for c, v in r.items() if c not in VALUES), []).append(r)
    out = []
    for key, found in rows.items():
        keys = iter(key)
        row = []
        for c in header:
            if c not in VALUES:
                row.append(next(keys))
                continue
            vals = [float(r[c]) for r in found if r.get(c)]
            row.append(f"{statistics.median(vals):.4f}" if vals and c == "latency_us"
                       else f"{statistics.median(vals):.0f}" if vals else "")
        ts = [float(r["latency_us"]) for r in found]
        out.append(row + [f"{min(ts):.4f}", f"{max(ts):.4f}", str(len(ts))])
    return header + ["min_us", "max_us", "runs"], out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    names = sorted({p.name for r in args.runs for p in r.glob("*.csv")})
    for name in names:
        header, rows = combine(args.runs, name)
        if name == "attention_cudnn.csv":
            ph = header.index("phase")
            for phase in ("context_attention", "generation_attention"):
                with open(args.out / f"{phase}_cudnn.csv", "w", newline="") as f:
                    w = csv.writer(f, lineterminator="\n")
                    w.writerow(header[:ph] + header[ph + 1:])
                    w.writerows(r[:ph] + r[ph + 1:] for r in rows if r[ph] == phase)
            continue
        with open(args.out / name, "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(header)
            w.writerows(rows)
    for i, run in enumerate(args.runs, 1):
        dst = args.out / "verbatim" / f"run{i}"
        dst.mkdir(parents=True, exist_ok=True)
        for p in run.iterdir():
            if p.is_file():
                shutil.copy(p, dst / p.name)


if __name__ == "__main__":
    main()
