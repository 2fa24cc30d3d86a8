"""``python benchmarks/validate.py``: find the measurement files, plan them, simulate every job once (through the
results store and the process pool of :mod:`accelsim.sweep`), print and write the errors."""

from __future__ import annotations

import argparse
import fnmatch
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from .data import REPO, default_data_dir, discover, load_arch_map
from .metrics import evaluate, summarize
from .plan import plan_file
from .replay import SimStore, simulate_jobs
from .report import markdown, print_file, print_summary, write_markdown, write_outputs


def parser(description: str) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", action="append", type=Path, default=[], metavar="DIR",
                    help="another folder of measurement CSVs (repeatable), e.g. the held-back h100_*_ops.csv")
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "validation", help="output folder")
    ap.add_argument("--arch-map", type=Path, default=None, metavar="FILE",
                    help="YAML {tag: preset} or {tag: {compute: P, network: P}} overriding the presets per file tag")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="simulation processes")
    ap.add_argument("--only", action="append", default=[], metavar="GLOB", help="replay only files whose label "
                    "matches (repeatable), e.g. 'llmcompass/*'")
    ap.add_argument("--no-default", action="store_true", help="skip the default reference folder")
    ap.add_argument("--no-cache", action="store_true", help="simulate everything again")
    ap.add_argument("--no-plot", action="store_true", help="do not write validation.png")
    ap.add_argument("--markdown", type=Path, default=None, metavar="FILE",
                    help="also write the per-file, per-view tables as Markdown (docs/validation.md's tables)")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    return ap


def measurement_files(console, args: argparse.Namespace) -> list[tuple[str, Path]] | None:
    """(label, path) of the files to replay; None after printing why: a --data folder that does not exist, or no
    file found at all (one line saying where it looked and how to point it at data: probe p142 #2)."""
    dirs, looked = [], []
    ref = None if args.no_default else default_data_dir()
    if ref is not None:
        looked.append(f"{ref}{'' if ref.is_dir() else ' (missing)'}")
        if ref.is_dir():
            dirs.append(ref)
    for d in args.data:
        if not d.is_dir():
            console.print(f"[red]--data {d}: not a folder")
            return None
        dirs.append(d)
        looked.append(str(d))
    files = discover(dirs)
    if args.only:
        files = [(lab, p) for lab, p in files if any(fnmatch.fnmatch(lab, g) for g in args.only)]
    if not files:
        only = f" matching --only {' '.join(args.only)}" if args.only else ""
        where = ", ".join(looked) or "no folder (--no-default and no --data)"
        print(f"validate.py: no measurement files{only} found in {where}; the reference folder "
              f"($ACCELSIM_REFERENCE_DIR, else ../shared/reference/hardware beside the repository) does not come "
              f"with the repository: set ACCELSIM_REFERENCE_DIR=DIR or give --data DIR (this repository's H200 set: "
              f"--no-default --data benchmarks/data/measured)", file=sys.stderr)
        return None
    if ref is not None and not ref.is_dir():  # the --data files replay without it: say it was left out
        console.print(f"[yellow]reference folder {ref} not found (set ACCELSIM_REFERENCE_DIR)")
    return files


def main(argv: Sequence[str] | None = None, description: str = "Hardware validation") -> int:
    args = parser(description).parse_args(argv)
    from rich.console import Console

    console = Console(width=None if sys.stdout.isatty() else 200)
    t0 = time.time()
    files = measurement_files(console, args)
    if files is None:
        return 2
    arch_map = load_arch_map(args.arch_map)
    plans = []
    for label, path in files:
        plan = plan_file(path, label, arch_map)
        plans.append(plan)
        console.print(f"planned {label}: {plan.kind}, {len(plan.rows)} rows, {len(plan.skipped)} skipped")
    store = None if args.no_cache else SimStore(args.out)
    sims = simulate_jobs([j for p in plans for j in p.jobs()], workers=max(1, args.jobs), store=store, progress=True)
    results = [evaluate(p, sims) for p in plans]
    for r in results:
        print_file(console, r)
    summary = summarize(results)
    written = write_outputs(args.out, results, summary, plot=not args.no_plot)
    if args.markdown is not None:
        import json
        import platform

        cmd = "python benchmarks/validate.py " + " ".join(argv if argv is not None else sys.argv[1:])
        machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
        write_markdown(args.markdown, markdown(json.loads(written[2].read_text()), cmd.strip(), machine))
        written.append(args.markdown)
    print_summary(console, results, summary, time.time() - t0)
    console.print("wrote " + ", ".join(str(p) for p in written))
    return 1 if args.strict and not all(s["met"] for s in summary if s["members"]) else 0
