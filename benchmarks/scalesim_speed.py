"""Wall time of SCALE-Sim 3.0 and of accelsim on the same ResNet-18 SCALE-Sim inputs, and their cycles side by side.

    python -m venv /tmp/ssvenv && /tmp/ssvenv/bin/pip install scalesim "numpy<2.4"
    python benchmarks/scalesim_speed.py --scalesim-python /tmp/ssvenv/bin/python

SCALE-Sim is not a dependency of accelsim: it runs in its own environment (``--scalesim-python``; SCALE-Sim 3.0.0
needs numpy < 2.4, see ``scalesim_reference.py``, whose driver this script uses; run it from this folder's parent or
as a path, so that ``scalesim_reference`` is importable beside it).

Inputs, written into a temporary folder:

* config: 128×128 array, weight stationary, IFMAP/filter/OFMAP SRAMs 64 KiB each, ``InterfaceBandwidth: CALC``;
* topology: torchvision's ResNet-18 in SCALE-Sim's conv form, 21 rows: its 20 ``Conv2d`` layers (conv1, the 16
  3×3 convolutions of the basic blocks and the 3 1×1 downsample convolutions, in module order) and ``fc`` as a 1×1
  convolution of a 1×1×512 ifmap with 1000 filters. SCALE-Sim has no padding and sizes outputs as
  ⌈(H − F + S)/S⌉, so each IFMAP is S·(E − 1) + F, the rows the kernel reads, where E is torchvision's output
  size (224 → 112 → 56 → 28 → 14 → 7). ``scalesim 3.0.0`` on PyPI ships no topology files (no resnet18.csv).

Timed: SCALE-Sim as a subprocess of ``--scalesim-python`` (set-up and ``run_scale``, no traces written:
``save_disk_space=True``), and ``accelsim run --scalesim-config CFG --topology CSV --no-plots -q`` as a subprocess
(``--repeat`` times; the first run and the best are shown). Both wall times include the interpreter start and
imports; SCALE-Sim's own time without them is shown too. SCALE-Sim is stopped after ``--timeout`` seconds.

Measured once (2 CPUs, SCALE-Sim 3.0.0 with numpy 2.3.5): accelsim 0.67 s, SCALE-Sim 172 s (171.7 s of it in
SCALE-Sim's run), a 257× speed-up; both give 441,581 compute cycles, equal in all 21 layers.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scalesim_reference import CONV_HEADER, config_text, expanded_names, run_scalesim, topology_text


def resnet18_rows() -> list[tuple]:
    """torchvision ResNet-18's convolutions (and fc) as SCALE-Sim conv rows (name, H, W, Fh, Fw, C, N, S)."""

    def conv(name: str, e: int, f: int, c: int, n: int, s: int) -> tuple:
        h = s * (e - 1) + f  # SCALE-Sim: ⌈(h − f + s)/s⌉ = e
        return (name, h, h, f, f, c, n, s)

    rows = [conv("conv1", 112, 7, 3, 64, 2)]  # then a 3×3 s2 max-pool: 112 → 56
    c_in, size = 64, 56
    for stage, width in enumerate((64, 128, 256, 512), 1):
        for block in range(2):
            stride = 2 if stage > 1 and block == 0 else 1
            e = size // stride
            prefix = f"layer{stage}.{block}"
            rows.append(conv(f"{prefix}.conv1", e, 3, c_in, width, stride))
            rows.append(conv(f"{prefix}.conv2", e, 3, width, width, 1))
            if stride != 1 or c_in != width:
                rows.append(conv(f"{prefix}.downsample", e, 1, c_in, width, stride))
            c_in, size = width, e
    rows.append(("fc", 1, 1, 1, 1, 512, 1000, 1))  # after the global average pool
    return rows


def run_accelsim(cfg: Path, topology: Path, outdir: Path) -> tuple[float, list[dict]]:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "accelsim", "run", "--scalesim-config", str(cfg), "--topology",
                    str(topology), "-o", str(outdir), "--no-plots", "-q"], check=True, capture_output=True)
    wall = time.perf_counter() - t0
    return wall, json.loads((outdir / "report.json").read_text())["ops"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scalesim-python", default=os.environ.get("SCALESIM_PYTHON", sys.executable),
                    help="a Python with `pip install scalesim` (and numpy<2.4); default $SCALESIM_PYTHON or this one")
    ap.add_argument("--timeout", type=float, default=480, help="stop SCALE-Sim after this many seconds")
    ap.add_argument("--repeat", type=int, default=3, help="accelsim runs")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (inputs and reports)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="scalesim_speed_"))
    try:
        return measure(args, tmp)
    finally:
        if args.keep:
            print(f"inputs and reports kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def measure(args: argparse.Namespace, tmp: Path) -> int:
    cfg, topo = tmp / "resnet18_ws_128x128.cfg", tmp / "resnet18.csv"
    cfg.write_text(config_text("resnet18_ws_128x128", 128, 128, "ws"))
    rows = resnet18_rows()
    topo.write_text(topology_text(CONV_HEADER, rows))
    print(f"ResNet-18, {len(rows)} rows, 128x128 ws, SRAMs 64 KiB, CALC")

    walls, ops = [], []
    for i in range(args.repeat):
        wall, ops = run_accelsim(cfg, topo, tmp / f"accelsim_{i}")
        walls.append(wall)
    print(f"accelsim:  {walls[0]:.2f} s first, {min(walls):.2f} s best of {len(walls)} "
          f"(whole 'accelsim run' process); {sum(op['compute_cycles'] for op in ops):,} compute cycles")

    print(f"SCALE-Sim: running ({args.scalesim_python}, stopped after {args.timeout:.0f} s) ...", flush=True)
    try:
        run = run_scalesim(args.scalesim_python, cfg, topo, "conv", tmp / "scalesim", timeout=args.timeout)
    except subprocess.TimeoutExpired:
        print(f"SCALE-Sim: did not finish in {args.timeout:.0f} s (stopped); speed-up > "
              f"{args.timeout / min(walls):.0f}x")
        return 1
    print(f"SCALE-Sim: {run.wall:.1f} s (whole process), {run.seconds:.1f} s in SCALE-Sim itself; "
          f"{sum(run.compute):,} compute cycles (SCALE-Sim {run.version})")
    print(f"speed-up:  {run.wall / min(walls):.0f}x (process walls, accelsim best), "
          f"{run.wall / walls[0]:.0f}x (accelsim first run)")

    assert run.layers == expanded_names("conv", rows), run.layers
    equal = 0
    for op, cycles in zip(ops, run.compute, strict=True):
        same = op["compute_cycles"] == cycles
        equal += same
        if not same:
            print(f"  differs: {op['name']}: accelsim {op['compute_cycles']}, SCALE-Sim {cycles}")
    print(f"compute cycles equal in {equal} of {len(rows)} layers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
