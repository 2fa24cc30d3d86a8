"""benchmarks/data/measured/: the GPU measurements committed as held-out data are whole and documented. Every file
is one validate.py replays (or lists), each row is the median of its runs and lies between their min and max, and
the README names every file (it documents the columns)."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MEASURED = ROOT / "benchmarks" / "data" / "measured"
sys.path.insert(0, str(ROOT / "benchmarks"))
from validation.data import classify  # noqa: E402

FILES = sorted(p for p in [*MEASURED.glob("*/*.csv"), *MEASURED.glob("*/*/*.csv")]
               if "verbatim" not in p.relative_to(MEASURED).parts)
KNOWN = {"aic_gemm", "aic_attention", "measured_kernels", "aic_nccl", "gemm_burst", "model_inference",
         "model_training", "power"}


def test_there_is_data():
    assert len(FILES) >= 6


@pytest.mark.parametrize("path", FILES, ids=[p.relative_to(MEASURED).as_posix() for p in FILES])
def test_file_is_replayable_and_each_row_is_the_median_of_its_runs(path):
    kind = classify(path)
    assert kind in KNOWN
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows
    runs = len(list((path.parent / "verbatim").glob("run*")))
    if kind in ("power", "gemm_burst"):  # listed per run, not combined: every run of the folder is there
        if "run" in rows[0]:
            assert {int(r["run"]) for r in rows} == set(range(1, runs + 1))
        readme = (MEASURED / "README.md").read_text()
        assert f"`{path.name}`" in readme
        return
    for r in rows:
        lo, mid, hi = float(r["min_us"]), float(r["latency_us"]), float(r["max_us"])
        assert 0 < lo <= mid <= hi
        assert int(r["runs"]) == runs  # every run measured every row
    readme = (MEASURED / "README.md").read_text()
    assert f"`{path.name}`" in readme
