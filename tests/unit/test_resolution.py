"""benchmarks/resolution.py: the error against the interval a rounded measurement stands for."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from resolution import interval_error, main  # noqa: E402


def test_a_value_written_to_1_us_stands_for_half_a_microsecond_either_way():
    # 0.002 ms (three decimals) is any kernel from 1.5 to 2.5 us
    assert interval_error(2e-6, 2.3e-6, 1e-6) == 0.0
    assert interval_error(2e-6, 3.0e-6, 1e-6) == pytest.approx((3.0 - 2.5) / 2)   # 0.25
    assert interval_error(2e-6, 1.2e-6, 1e-6) == pytest.approx((1.5 - 1.2) / 2)   # 0.15
    # a long kernel barely notices the rounding: 100 us +-0.5 us
    assert interval_error(100e-6, 110e-6, 1e-6) == pytest.approx(9.5 / 100)


def test_report_groups_rows_by_op(tmp_path, capsys):
    p = tmp_path / "validation.csv"
    p.write_text("file,key,measured_s,simulated_s,error\n"
                 "vidur/a100_x_ops.csv,tp=1 tokens=1 add 1x4096,2e-06,2.3e-06,0.15\n"
                 "vidur/a100_x_ops.csv,tp=1 tokens=2 add 2x4096,2e-06,3e-06,0.5\n"
                 "other.csv,k,1e-06,1e-06,0\n")
    assert main(["--csv", str(p)]) == 0
    out = capsys.readouterr().out.splitlines()
    add = next(line for line in out if line.startswith("add")).split()
    # plain MAPE (15 % + 50 %) / 2 = 32.5 %; in resolution (0 + 25 %) / 2 = 12.5 %; both rows under 5.5 us
    assert add[1] == "2" and add[2] == "32.5%" and add[3] == "12.5%" and add[4] == "2"
    assert main(["--csv", str(tmp_path / "missing.csv")]) == 2
