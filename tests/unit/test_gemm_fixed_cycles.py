"""A GPU GEMM's report row shows the thread blocks' fixed prologue/epilogue cycles (``fixed_cycles``), which its
``compute_cycles`` include and which ``utilization`` would otherwise count as the tensor cores' work (probe p45: 43 %
of resnet50 int8 at batch 256 on h100)."""

from __future__ import annotations

import csv

from accelsim.hardware import Arch
from accelsim.report.writers import write_ops_csv

from .test_gpu_model import _gemm, _run


def test_a_gpu_gemm_row_gives_its_busiest_cores_fixed_cycles(tmp_path):
    arch = Arch.model_validate({
        "name": "gpu", "clock": "1GHz", "dtype": "fp16", "cores": 4,
        "core": {"systolic": {"rows": 16, "cols": 16, "dataflow": "os"}, "vector": {"lanes": 64},
                 "sram": {"unified": "192KiB"}, "tile": {"m": 64, "n": 64, "k": 16, "stages": 4}},
        "hbm": {"capacity": "16GiB", "bandwidth": "1000GB/s", "latency": "500ns"},
        "l2": {"capacity": "4MiB", "bandwidth": "256GB/s", "latency": "100ns"}, "kernel_launch": "0s",
    })
    _, rep = _run(_gemm(320, 256, 128), arch)
    op = next(o for o in rep["ops"] if o["name"] == "fc")
    d = op["mapping"]
    # 320 x 256 in 64 x 64 tiles: 5 x 4 = 20 tiles on 4 cores, 5 on the busiest
    assert d["output_tiles"] == 20
    # one tile's F: the 500 ns HBM + 100 ns L2 round trip, its first K-stage ((64 + 64) x 16 x 2 B = 4 KiB) at its
    # core's share of the L2 (256 GB/s / 4 cores at 1 GHz = 64 B a cycle), the epilogue's L2 latency (100) and its
    # 64 x 64 x 2 B output tile at 64 B a cycle: 600 + 64 + 100 + 128 = 892
    assert d["fixed_cycles"] == 600 + 4096 // 64 + 100 + 8192 // 64 == 892
    assert op["fixed_cycles"] == 5 * 892 < op["compute_cycles"]
    path = write_ops_csv(rep, tmp_path / "ops.csv")
    row = next(r for r in csv.DictReader(open(path)) if r["name"] == "fc")
    assert int(row["fixed_cycles"]) == 5 * 892


def test_a_tiling_without_fixed_costs_has_no_column(tmp_path):
    # the same GEMM on a GPU without an L2 pays no prologue round trip: no row has fixed_cycles, no ops.csv column
    arch = Arch.model_validate({
        "name": "gpu", "clock": "1GHz", "dtype": "fp16", "cores": 4,
        "core": {"systolic": {"rows": 16, "cols": 16, "dataflow": "os"}, "vector": {"lanes": 64},
                 "sram": {"unified": "192KiB"}, "tile": {"m": 64, "n": 64}},
        "hbm": {"capacity": "16GiB", "bandwidth": "1000GB/s"}, "kernel_launch": "0s",
    })
    _, rep = _run(_gemm(320, 256, 128), arch)
    assert not any("fixed_cycles" in o for o in rep["ops"])
    path = write_ops_csv(rep, tmp_path / "ops.csv")
    assert "fixed_cycles" not in next(csv.reader(open(path)))
