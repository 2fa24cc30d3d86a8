"""Record SCALE-Sim 3.0's per-layer compute cycles as reference data for accelsim's systolic model.

What it does:

1. writes SCALE-Sim configs (dataflows os, ws, is × arrays 8×8, 32×32, 16×64 (16 rows, 64 columns) and 128×128;
   SRAMs 64 KiB each; ``InterfaceBandwidth: CALC`` so that SCALE-Sim adds no memory stalls) and topologies (a
   conv-form one and a GEMM-form one, run on the three small arrays, and the first five layers of ResNet-18 in
   SCALE-Sim's conv form, run on the 128×128 array; ``scalesim 3.0.0`` on PyPI ships no topology files, so the
   ResNet-18 rows are written here as in ``scalesim_speed.py``; and two topologies with SCALE-Sim v3's ``N:M``
   sparsity column, run with sparsity on (``[sparsity] SparsitySupport: true``, layer-wise: ``OptimizedMapping:
   false``) on the three small arrays and with it off on the 8×8 ones) into a temporary folder;
2. runs SCALE-Sim 3.0 on every (config, topology) case through its Python API (``scalesim.scale_sim.scalesim``,
   ``save_disk_space=True`` so that no traces are written), each in a subprocess of the Python that has SCALE-Sim;
3. reads each run's ``COMPUTE_REPORT.csv``;
4. writes ``tests/data/scalesim_reference/compute_cycles.csv`` (columns case, config, dataflow, rows, cols,
   topology, layer, scalesim_compute_cycles, scalesim_version) and copies the configs and topologies it used
   beside it, so that ``tests/integration/test_scalesim_reference.py`` can replay them through accelsim.

How to run it (SCALE-Sim is not a dependency of accelsim and must never be imported by it or its tests, so it
lives in an environment of its own)::

    python -m venv /tmp/ssvenv && /tmp/ssvenv/bin/pip install scalesim "numpy<2.4"
    python benchmarks/scalesim_reference.py --scalesim-python /tmp/ssvenv/bin/python

It takes about three minutes on two cores (``--jobs``, default: the number of CPUs). SCALE-Sim 3.0.0 needs
numpy < 2.4: from numpy 2.4 on ``int()`` of a one-element array raises, which SCALE-Sim does when it totals a
layer's cycles (``memory/double_buffered_scratchpad_mem.py``: ``int(max(ofmap_serviced_cycles))``), so every run
fails; the driver checks the version first and says so.

Which column holds the compute cycles: ``COMPUTE_REPORT.csv`` has the header ``LayerID, Total Cycles (incl.
prefetch), Total Cycles, Stall Cycles, Overall Util %, Mapping Efficiency %, Compute Util %`` and the reference is
the column **"Total Cycles"** (the third). It is ``single_layer_sim.total_cycles``, which is
``double_buffered_scratchpad.get_total_compute_cycles()``: the last cycle at which an ofmap write of the layer's
demand matrix is serviced, i.e. (demand-matrix lines − 1) + stall cycles. SCALE-Sim's own verbose log prints this
value as "Compute cycles", and its ``utilities/scalesim_report.py`` reads "Total Cycles" for
``get_compute_cycles_all_layer``. In CALC mode "Stall Cycles" is 0 (checked here: a case with stalls is reported and
its stalls subtracted), so "Total Cycles" is the pure compute time F_r·F_c·τ − 1. "Total Cycles (incl. prefetch)"
is not compute time: it spans from the first DRAM read to the last DRAM write (``overall_cycles`` in
``single_layer_sim.calc_report_data``), so it includes the first prefetch and the last drain.

Depthwise rows: SCALE-Sim turns a conv row whose name contains "DP" into ``Channels`` layers of one channel each
(named ``<name>Channel_<i>``, each with one COMPUTE_REPORT line); the reference sums those lines so that each
topology row has one number (accelsim reports one op per channel, named as SCALE-Sim does; the parity test splits
the sum back into its identical channels).

Layout files: SCALE-Sim 3.0 always parses a layout file, even with custom layouts off; the topology file itself is
passed as the layout (it parses, and with ``IfmapCustomLayout``/``FilterCustomLayout`` False its values are never
used).
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "tests" / "data" / "scalesim_reference"
REPORT_COLUMN = "Total Cycles"  # see the module docstring
STALL_COLUMN = "Stall Cycles"
CSV_COLUMNS = ("case", "config", "dataflow", "rows", "cols", "topology", "layer", "scalesim_compute_cycles",
               "scalesim_version")

# ---- topologies --------------------------------------------------------------------------------------------------
CONV_HEADER = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,"
GEMM_HEADER = "Layer, M, N, K,"

# SCALE-Sim output size per axis (no padding): E = ⌈(H − F + S)/S⌉; M = Eh·Ew, N = filters, K = Fh·Fw·C.
CONV_LAYERS = [
    # name          H   W  Fh Fw  C   N  S      what it exercises
    ("conv_s2",     15, 11, 3, 3, 3, 10, 2),  # stride 2, non-square ifmap: E = 7×5, M = 35, K = 27
    ("conv_5x3",    12,  9, 5, 3, 4,  9, 1),  # non-square 5×3 kernel: E = 8×7, M = 56, K = 60, N = 9
    ("conv_ceil",   10, 10, 3, 3, 5, 17, 3),  # E = ⌈(10−3+3)/3⌉ = 4 (⌊(10−3)/3⌋+1 would be 3): M = 16, K = 45
    ("dw_DP",       11, 12, 3, 3, 6,  2, 2),  # depthwise: 6 one-channel layers, E = 5×⌈5.5⌉ = 5×6, K = 9, N = 2
    ("pw_1x1",       7,  7, 1, 1, 24, 40, 1),  # pointwise: M = 49, K = 24, N = 40, partial folds on every array
    ("conv_full",    5,  5, 5, 5, 8, 12, 1),  # kernel as large as the ifmap: M = 1, K = 200
    ("conv_7x7_s4", 23, 18, 7, 7, 2, 33, 4),  # E = 5×⌈3.75⌉ = 5×4, M = 20, K = 98, N = 33
    ("conv_exact",   9,  9, 2, 2, 16, 64, 1),  # M = K = N = 64: whole folds on every array here
]

GEMM_LAYERS = [
    # name     M    N   K
    ("g_ones",  1,   1,  1),  # the smallest GEMM: one fold of a single PE
    ("g_gemv",  1, 100, 37),  # M = 1 (a matrix-vector product), N and K not multiples of any array side
    ("g_n1",   50,   1, 70),  # N = 1
    ("g_k1",   33,  65,  1),  # K = 1
    ("g_mid",  64,  48, 40),  # multiples of 8 and 16 but not of 32 or 64 in N and K
    ("g_odd",  17, 129,  9),  # N one past a multiple of 64
]

# The first five layers of torchvision's ResNet-18 in SCALE-Sim's conv form (no padding; IFMAP = S·(E−1) + F, the
# input rows the kernel reads, so that the output sizes are torchvision's): conv1, layer1.0.{conv1,conv2},
# layer2.0.{conv1,downsample.0}. scalesim 3.0.0 on PyPI ships no topology files (no resnet18.csv in site-packages).
RESNET18_HEAD = [
    # name                  H    W  Fh Fw   C    N  S
    ("conv1",              229, 229, 7, 7,  3,  64, 2),  # 224 → 112
    ("layer1.0.conv1",      58,  58, 3, 3, 64,  64, 1),  # 56 → 56
    ("layer1.0.conv2",      58,  58, 3, 3, 64,  64, 1),
    ("layer2.0.conv1",      57,  57, 3, 3, 64, 128, 2),  # 56 → 28
    ("layer2.0.downsample", 55,  55, 1, 1, 64, 128, 2),  # 56 → 28
]

# SCALE-Sim v3's layer-wise N:M sparsity (config [sparsity] SparsitySupport true, OptimizedMapping false): a last
# column "N:M" per row; SCALE-Sim packs each group of M rows of the filter matrix (K) to N (operand_matrix.py).
SPARSE_CONV_LAYERS = [
    # name, H, W, Fh, Fw, C, N, S, N:M    K and what it exercises
    (*CONV_LAYERS[0], "2:4"),  # K = 27: 6 whole groups and a partial one of 3 (kept 2 of it): 14
    (*CONV_LAYERS[1], "1:4"),  # K = 60: 15 groups, 15 kept
    (*CONV_LAYERS[2], "3:4"),  # K = 45: 11 groups and 1 left (kept 1): 34
    (*CONV_LAYERS[3], "2:4"),  # depthwise, K = 9 per channel: 2 groups and 1 left: 5
    (*CONV_LAYERS[4], "1:2"),  # pointwise, K = 24: 12 kept
    (*CONV_LAYERS[5], "2:8"),  # K = 200: 25 groups of 8, 50 kept
    (*CONV_LAYERS[7], "4:4"),  # dense written as N:M: K = 64 unchanged
]
SPARSE_GEMM_LAYERS = [
    # name, M, N, K, N:M
    ("gs_24",   20, 13, 37, "2:4"),  # K = 37: 9 groups and 1 left: 19
    ("gs_14",    9, 17, 40, "1:4"),  # 10
    ("gs_34",   12,  5, 16, "3:4"),  # 12
    ("gs_12",   30, 30, 30, "1:2"),  # 15
    ("gs_k_lt_m", 7, 70,  3, "2:4"),  # K = 3 < M: one partial group, kept 2
    ("gs_11",   33, 65,  1, "1:1"),  # K = 1, dense
]

TOPOLOGIES = {  # file name → (form, header, rows)
    "conv_mix.csv": ("conv", CONV_HEADER, CONV_LAYERS),
    "gemm_mix.csv": ("gemm", GEMM_HEADER, GEMM_LAYERS),
    "resnet18_head.csv": ("conv", CONV_HEADER, RESNET18_HEAD),
    "conv_sparse.csv": ("conv", CONV_HEADER + " Sparsity,", SPARSE_CONV_LAYERS),
    "gemm_sparse.csv": ("gemm", GEMM_HEADER + " Sparsity,", SPARSE_GEMM_LAYERS),
}
SPARSE_TOPOLOGIES = ("conv_sparse.csv", "gemm_sparse.csv")


def topology_text(header: str, rows) -> str:
    """A SCALE-Sim topology CSV: header, then one row per layer, each ending with a comma (SCALE-Sim drops the
    last field of every line)."""
    return "\n".join([header] + [", ".join(str(v) for v in row) + "," for row in rows]) + "\n"


def expanded_names(form: str, rows) -> list[str]:
    """The layer names SCALE-Sim makes of the topology rows (a conv row whose name contains "DP" becomes one
    layer per channel, ``<name>Channel_<i>``)."""
    names = []
    for row in rows:
        name = row[0]
        if form == "conv" and "DP" in name:
            names += [f"{name}Channel_{i}" for i in range(row[5])]
        else:
            names.append(name)
    return names


# ---- configs -----------------------------------------------------------------------------------------------------
SPARSITY_ON = """SparsitySupport : true
SparseRep : ellpack_block
OptimizedMapping : false
RandomNumberGeneratorSeed : 40"""


def config_text(run_name: str, rows: int, cols: int, dataflow: str, sram_kb: int = 64, sparsity: bool = False) -> str:
    """A SCALE-Sim 3.0 config with every key its ``scale_config.read_conf_file`` requires, CALC bandwidth;
    ``sparsity``: layer-wise N:M sparsity on (blocked ELLPACK metadata, no row-wise mapping)."""
    return f"""[general]
run_name = {run_name}

[architecture_presets]
ArrayHeight:    {rows}
ArrayWidth:     {cols}
IfmapSramSzkB:  {sram_kb}
FilterSramSzkB: {sram_kb}
OfmapSramSzkB:  {sram_kb}
IfmapOffset:    0
FilterOffset:   10000000
OfmapOffset:    20000000
Bandwidth : 10
Dataflow : {dataflow}
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: 10
IfmapSRAMBankNum: 10
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: 10
FilterSRAMBankNum: 10
FilterSRAMBankPort: 2

[sparsity]
{SPARSITY_ON if sparsity else "SparsitySupport : false"}

[run_presets]
InterfaceBandwidth: CALC
UseRamulatorTrace: False
"""


@dataclass(frozen=True)
class Config:
    dataflow: str
    rows: int
    cols: int
    sparsity: bool = False

    @property
    def name(self) -> str:
        return f"{'sparse_' if self.sparsity else ''}{self.dataflow}_{self.rows}x{self.cols}"

    @property
    def file(self) -> str:
        return f"{self.name}.cfg"


GRID_CONFIGS = [Config(df, r, c) for df in ("os", "ws", "is") for r, c in ((8, 8), (32, 32), (16, 64))]
BIG_CONFIGS = [Config(df, 128, 128) for df in ("os", "ws", "is")]
# The slow ResNet-18 cases first, so that the small ones fill the other workers meanwhile.
CASES = [(cfg, "resnet18_head.csv") for cfg in BIG_CONFIGS]
CASES += [(cfg, topo) for cfg in GRID_CONFIGS for topo in ("conv_mix.csv", "gemm_mix.csv")]
# the sparse topologies with sparsity on, and (as SCALE-Sim ignores the column then) off
SPARSE_CONFIGS = [Config(c.dataflow, c.rows, c.cols, True) for c in GRID_CONFIGS]
CASES += [(cfg, topo) for cfg in SPARSE_CONFIGS + GRID_CONFIGS[::3] for topo in SPARSE_TOPOLOGIES]

# ---- running SCALE-Sim -------------------------------------------------------------------------------------------
# Run by the SCALE-Sim Python: argv = config, topology, output folder, "conv" | "gemm", layout file. Writes
# <out>/<run_name>/COMPUTE_REPORT.csv (SCALE-Sim) and <out>/driver.txt (version, run name, seconds, layer names).
DRIVER = r"""
import sys, time, warnings
cfg, topo, out, form, layout = sys.argv[1:6]
import numpy
if tuple(int(x) for x in numpy.__version__.split(".")[:2]) >= (2, 4):
    sys.exit(f"numpy {numpy.__version__} is installed beside SCALE-Sim; SCALE-Sim 3.0.0 needs numpy < 2.4 "
             "(it calls int() on one-element arrays): pip install 'numpy<2.4'")
from importlib.metadata import version
from scalesim.scale_sim import scalesim
warnings.simplefilter("ignore")
t0 = time.perf_counter()
s = scalesim(save_disk_space=True, verbose=False, config=cfg, topology=topo, layout=layout,
             input_type_gemm=(form == "gemm"))
s.run_scale(top_path=out)
seconds = time.perf_counter() - t0
with open(out + "/driver.txt", "w") as f:
    f.write("\n".join([version("scalesim"), s.config.get_run_name(), repr(seconds)] + s.topo.get_layer_names()))
"""


@dataclass
class ScalesimRun:
    version: str
    seconds: float  # SCALE-Sim's own run (set-up and run_scale), without the interpreter start
    wall: float  # the whole subprocess
    layers: list[str]  # SCALE-Sim's layer names, one per COMPUTE_REPORT line
    compute: list[int]  # "Total Cycles" − "Stall Cycles" per line
    stalls: list[int]


def run_scalesim(python: str, cfg: Path, topology: Path, form: str, outdir: Path,
                 timeout: float | None = None, layout: Path | None = None) -> ScalesimRun:
    """Run SCALE-Sim on one config and topology in a subprocess of ``python``; its per-layer compute cycles.
    ``layout``: the layout file SCALE-Sim parses (default the topology itself, which parses unless it has a
    sparsity column: its layout parser reads every column as an integer)."""
    outdir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    proc = subprocess.run([python, "-c", DRIVER, str(cfg), str(topology), str(outdir), form,
                           str(layout or topology)],
                          capture_output=True, text=True, timeout=timeout, cwd=outdir)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise RuntimeError(f"SCALE-Sim failed on {cfg.name} + {topology.name} (exit {proc.returncode}):\n{tail}")
    version, run_name, seconds, *layers = (outdir / "driver.txt").read_text().splitlines()
    compute, stalls = read_compute_report(outdir / run_name / "COMPUTE_REPORT.csv")
    if len(compute) != len(layers):
        raise RuntimeError(f"{cfg.name} + {topology.name}: {len(compute)} report lines for {len(layers)} layers")
    return ScalesimRun(version, float(seconds), wall, layers, compute, stalls)


def read_compute_report(path: Path) -> tuple[list[int], list[int]]:
    """Per line of a SCALE-Sim COMPUTE_REPORT.csv: ("Total Cycles" − "Stall Cycles", "Stall Cycles")."""
    with path.open(newline="") as f:
        rows = list(csv.reader(f, skipinitialspace=True))
    header = [h.strip() for h in rows[0]]
    total_i, stall_i = header.index(REPORT_COLUMN), header.index(STALL_COLUMN)
    compute, stalls = [], []
    for row in rows[1:]:
        if not any(x.strip() for x in row):
            continue
        total, stall = int(float(row[total_i])), int(float(row[stall_i]))
        compute.append(total - stall)
        stalls.append(stall)
    return compute, stalls


# ---- main --------------------------------------------------------------------------------------------------------
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scalesim-python", default=os.environ.get("SCALESIM_PYTHON", sys.executable),
                    help="a Python with `pip install scalesim` (and numpy<2.4); default $SCALESIM_PYTHON or this one")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"where to write (default {DEFAULT_OUT})")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="SCALE-Sim runs at once")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder (SCALE-Sim's reports)")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="scalesim_reference_"))
    t_start = time.perf_counter()
    try:
        inputs = tmp / "inputs"
        inputs.mkdir()
        for cfg in {c for c, _ in CASES}:
            (inputs / cfg.file).write_text(config_text(f"ref_{cfg.name}", cfg.rows, cfg.cols, cfg.dataflow,
                                                       sparsity=cfg.sparsity))
        for name, (_form, header, rows) in TOPOLOGIES.items():
            (inputs / name).write_text(topology_text(header, rows))
        layouts = tmp / "layouts"  # the sparse topologies without their sparsity column, for SCALE-Sim's layout parser
        layouts.mkdir()
        for name in SPARSE_TOPOLOGIES:
            _form, header, rows = TOPOLOGIES[name]
            (layouts / name).write_text(topology_text(header.removesuffix(" Sparsity,"), [r[:-1] for r in rows]))

        def one(case):
            cfg, topo = case
            form = TOPOLOGIES[topo][0]
            outdir = tmp / "runs" / f"{cfg.name}__{Path(topo).stem}"
            run = run_scalesim(args.scalesim_python, inputs / cfg.file, inputs / topo, form, outdir,
                               layout=layouts / topo if topo in SPARSE_TOPOLOGIES else None)
            print(f"  {cfg.name:>11} {topo:<18} {len(run.layers):3d} layers  {sum(run.compute):9d} cycles  "
                  f"{run.seconds:6.1f} s", flush=True)
            return run

        print(f"SCALE-Sim ({args.scalesim_python}) on {len(CASES)} cases, {args.jobs} at a time:", flush=True)
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            runs = list(pool.map(one, CASES))

        records = []
        stalled = []
        for (cfg, topo), run in zip(CASES, runs, strict=True):
            form, _header, rows = TOPOLOGIES[topo]
            expected = expanded_names(form, rows)
            if run.layers != expected:
                raise RuntimeError(f"{cfg.file} + {topo}: SCALE-Sim's layers {run.layers} are not {expected}")
            if any(run.stalls):
                stalled.append(f"{cfg.file} + {topo}: stall cycles {run.stalls} (subtracted)")
            by_name = dict(zip(run.layers, run.compute, strict=True))
            for row in rows:
                name = row[0]
                if form == "conv" and "DP" in name:
                    cycles = sum(by_name[f"{name}Channel_{i}"] for i in range(row[5]))
                else:
                    cycles = by_name[name]
                records.append({"case": f"{cfg.name}/{Path(topo).stem}", "config": cfg.file,
                                "dataflow": cfg.dataflow, "rows": cfg.rows, "cols": cfg.cols, "topology": topo,
                                "layer": name, "scalesim_compute_cycles": cycles, "scalesim_version": run.version})

        args.out.mkdir(parents=True, exist_ok=True)
        for f in sorted(inputs.iterdir()):
            shutil.copyfile(f, args.out / f.name)
        with (args.out / "compute_cycles.csv").open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=CSV_COLUMNS, lineterminator="\n")
            w.writeheader()
            w.writerows(records)
        for line in stalled:
            print(f"warning: {line}", file=sys.stderr)
        print(f"wrote {len(records)} layers of {len(CASES)} cases to {args.out / 'compute_cycles.csv'} "
              f"(SCALE-Sim {runs[0].version}) in {time.perf_counter() - t_start:.0f} s")
    finally:
        if args.keep:
            print(f"SCALE-Sim outputs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
