"""Regression guard for refactors: every number of report.json for 24 experiment × preset pairs (CNNs, SCALE-Sim
inputs, transformers, LLM serving, DLRM with host tables, GNNs, training, tensor and pipeline parallelism, GPU
presets) equals the snapshot recorded by ``benchmarks/regression.py --record`` (commit in
tests/data/regression/COMMIT), except the fields ``CHANGED`` lists with the reason they moved.

A snapshot is not a correctness test: the correctness of each number is checked by the unit and integration tests
that cite their references. This one only says that a change which claims to move nothing moved nothing."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import regression  # noqa: E402


@pytest.mark.parametrize("case", list(regression.CASES))
def test_report_matches_snapshot(case):
    diff = regression.differences(case, regression.load(case), regression.report_of(case))
    assert not diff, "\n".join(diff[:30])
