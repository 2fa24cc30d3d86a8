"""Inputs the fuzz test found that reached the engine, the mapper or the plots as internal errors: each is now a
one-line error (exit 2)."""

from __future__ import annotations

import json

import pytest

from accelsim.cli import main


def _err(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line]


@pytest.mark.parametrize("override, says", [
    # a 2**62-row array: cycles beyond int64 (was OverflowError in the engine, then the engine's keyless "beyond the
    # 9.22e+18 a trace can count"): one step needs 2 · (2**62 + 32 + 32 · 4) B of scratchpad > 2**63 - 1
    ("arch.core.systolic.rows=4611686018427387904", "--set: arch.core.systolic.rows: one step of a "
                                                    "4611686018427387904x32 systolic array needs more than"),
    # 5e-324 B/s is 0.0 B per cycle (was ZeroDivisionError in the mapper)
    ("arch.hbm.bandwidth=5.0e-324", "hbm.bandwidth"),
    # a hundred million cores, 2**31 arrays per core (mapping hung past 1.6 GB)
    ("arch.cores=100000000", "cores"),
    ("arch.core.systolic.count=2147483648", "core.systolic.count"),
])
def test_absurd_hardware_is_a_one_line_error(override, says, tmp_path, capsys):
    code = main(["run", "-w", "lenet5", "-a", "edge-npu", "--set", override, "--no-plots", "-q", "-o",
                 str(tmp_path)])
    err = _err(capsys)
    assert code == 2 and len(err) == 1 and says in err[0] and "internal error" not in err[0], err


@pytest.mark.parametrize("edit, says", [
    ({"arch": -1}, "report.json: not a report accelsim can plot"),
    # a key every report has, of another type: refused when read (report.schema.not_a_report)
    ({"bytes": 5}, "report.json: not an accelsim report (bytes: not an object)"),
    ({"utilization": "x"}, "report.json: not an accelsim report (utilization: not an object)"),
])
def test_plot_of_a_hand_broken_report_names_the_file(edit, says, tmp_path, capsys):
    assert main(["run", "-w", "lenet5", "-a", "gemmini", "--no-plots", "-q", "-o", str(tmp_path)]) == 0
    path = tmp_path / "report.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **edit}))
    capsys.readouterr()
    code = main(["plot", str(tmp_path)])
    err = _err(capsys)
    assert code == 2 and len(err) == 1 and says in err[0], err


@pytest.mark.parametrize("text, says", [("[" * 100_000, "nested too deeply"),
                                        ('{"macs": ' + "9" * 5000 + "}", "a number with too many digits")])
def test_plot_of_unreadable_json_is_one_line(text, says, tmp_path, capsys):
    (tmp_path / "report.json").write_text(text)
    code = main(["plot", str(tmp_path)])
    err = _err(capsys)
    assert code == 2 and len(err) == 1 and f"{tmp_path / 'report.json'}: not valid JSON: {says}" in err[0], err
