"""benchmarks/kernels/kernel_names.py on the CPU (--dry): every section profiles its cases and writes one row per
launched op in the documented columns. Needs PyTorch (an optional extra), skipped without it; the kernel names,
grids and blocks it exists for come only from a lent GPU."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks" / "kernels"))
from kernel_names import COLUMNS, main  # noqa: E402


def test_dry_run_profiles_every_section(tmp_path):
    assert main(["--out", str(tmp_path), "--dry"]) == 0
    with open(tmp_path / "kernel_names.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == COLUMNS
    cases = {(r["section"], r["case"]) for r in rows}
    # --dry: two GEMMs, one prefill and one decode shape, the three norms on one 4 x 64 tensor
    assert {("gemm", "1x128x128"), ("gemm", "64x256x128")} <= cases
    assert {("attention", "context_attention b1 h4/2 d16 q32 kv32"),
            ("attention", "generation_attention b1 h4/2 d16 q1 kv32")} <= cases
    assert {("norms", f"{op} 4x64") for op in ("layer_norm", "rms_norm", "softmax")} <= cases
    # on the CPU the profiler sees ops, not kernels: no grid, and every row has a duration
    assert all(r["grid"] == "" and float(r["dur_us"]) >= 0 for r in rows)
