"""Fast hardware-validation check: a few of LLMCompass's measured A100 GEMMs (>= 50 us) replayed through the code of
benchmarks/validate.py (the package benchmarks/validation/; the full run is `python benchmarks/validate.py`, see
docs/validation.md).

The rows live in tests/data/validation/a100_matmul_rows.csv (copied from the reference file, source and commit in its
header), so the check runs on a fresh clone without ../shared; when the reference folder is present, a second test
checks the copy still equals it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))

import validation  # noqa: E402  (benchmarks/validation/)

ROWS = REPO / "tests" / "data" / "validation" / "a100_matmul_rows.csv"
KEYS = {"8192x8192x8192", "2048x12288x12288", "8192x4096x4096", "512x12288x12288"}

# The target is on the MAPE of the A100 GEMMs >= 50 us (8 %). Row by row a looser guard: 2048x12288x12288
# is the worst row of the whole file at about -8.3 % (docs/validation.md), so a per-row 8 % would fail on it.
TARGET_MAPE = 8.0
ROW_TOLERANCE = 0.10


def test_a100_gemms_within_target():
    res = validation.replay_file(ROWS)
    assert res.plan.kind == "matmul" and res.plan.preset == "a100"
    assert {r.key for r in res.rows} == KEYS
    for r in res.rows:
        assert r.measured_s >= 50e-6, r.key
        assert abs(r.error) <= ROW_TOLERANCE, f"{r.key}: measured {r.measured_s:.4g} s, accelsim " \
                                              f"{r.simulated_s:.4g} s ({100 * r.error:+.1f} %)"
    assert validation.mape(res.rows) <= TARGET_MAPE
    target = [v for v in res.views if v.target == "gemm"]
    assert len(target) == 1 and target[0].rows == len(KEYS) and target[0].met


def test_copied_rows_equal_reference():
    ref = validation.default_data_dir() / "llmcompass" / "matmul_A100.csv"
    if not ref.exists():
        pytest.skip(f"reference data not found at {ref} (set ACCELSIM_REFERENCE_DIR)")
    reference = {(r["M"], r["N"], r["K"]): r for r in validation.read_rows(ref)}
    copied = validation.read_rows(ROWS)
    assert len(copied) == len(KEYS)
    for row in copied:
        assert reference[(row["M"], row["N"], row["K"])] == row
