"""Comparing reports: loading and labelling folders, the metrics and their ratios to the baseline, table and JSON.

Two small hand-written report dicts; every expected ratio is worked out by hand in the test.
"""

from __future__ import annotations

import json

import pytest
from rich.console import Console

from accelsim.errors import AccelsimError
from accelsim.report.compare import (
    compare_json,
    compare_rows,
    compare_table,
    format_ratio,
    load_reports,
)
from accelsim.report.writers import write_json


def _op(compute, stall):
    return {"name": "op", "kind": "conv", "compute_cycles": compute, "stall_cycles": stall}


BASE = {
    "name": "base", "workload": {"name": "resnet50"}, "arch": {"name": "tpu-v1"},
    "total_cycles": 1000, "seconds": 1e-6, "macs": 4000, "flops": 8000, "params": 100,
    "mac_utilization": 0.5, "stall_cycles": 200,
    "utilization": {"core0.systolic0": 0.8, "core0.vector": 0.1, "hbm": 0.4, "host": 0.0},
    "bytes": {"sram": 1000, "hbm": 500, "host": 0},
    "ops": [_op(600, 150), _op(200, 50)],  # stall share 200 / (200 + 800) = 0.2
}
FAST = {
    "name": "fast", "workload": {"name": "resnet50"}, "arch": {"name": "big"},
    "total_cycles": 250, "seconds": 0.5e-6, "macs": 4000, "flops": 8000, "params": 100,
    "mac_utilization": 0.75, "stall_cycles": 50,
    "utilization": {"core0.systolic0": 0.3, "core1.systolic0": 0.9, "hbm": 0.6},  # no host level
    "bytes": {"hbm": 1000, "l2": 64},  # no sram; l2 is new
    "ops": [_op(150, 50)],  # 50 / 200 = 0.25
}


@pytest.fixture
def reports():
    return [("base", BASE), ("fast", FAST)]


def test_rows_and_ratios_by_hand(reports):
    rows = dict(compare_rows(reports))
    assert list(rows)[:12] == ["workload", "arch", "total_cycles", "seconds", "macs", "flops", "params",
                               "mac_utilization", "max_compute_utilization", "hbm_utilization", "stall_cycles",
                               "stall_share"]
    assert list(rows)[12:] == ["bytes.sram", "bytes.hbm", "bytes.host", "bytes.l2"]  # union, first seen first
    assert rows["total_cycles"] == [1000, 250]
    assert rows["arch"] == ["tpu-v1", "big"]
    assert rows["max_compute_utilization"] == [0.8, 0.9]  # memory levels are not compute units
    assert rows["hbm_utilization"] == [0.4, 0.6]
    assert rows["stall_share"] == [pytest.approx(0.2), pytest.approx(0.25)]
    assert rows["bytes.sram"] == [1000, None] and rows["bytes.l2"] == [None, 64]

    data = compare_json(reports)
    assert data["labels"] == ["base", "fast"] and data["baseline"] == "base"
    assert data["metrics"]["total_cycles"] == {"base": 1000, "fast": 250}
    r = data["ratios"]
    assert r["total_cycles"] == {"base": 1.0, "fast": 0.25}  # 250 / 1000
    assert r["seconds"]["fast"] == pytest.approx(0.5)  # 0.5 us / 1 us
    assert r["mac_utilization"]["fast"] == pytest.approx(1.5)  # 0.75 / 0.5
    assert r["stall_cycles"]["fast"] == pytest.approx(0.25)  # 50 / 200
    assert r["stall_share"]["fast"] == pytest.approx(1.25)  # 0.25 / 0.2
    assert r["bytes.hbm"]["fast"] == pytest.approx(2.0)  # 1000 / 500
    assert r["bytes.host"]["fast"] is None  # missing in fast (and 0 in the baseline)
    assert r["bytes.l2"] == {"base": None, "fast": None}  # no baseline value
    assert "workload" not in r and "arch" not in r  # text metrics have no ratio
    json.dumps(data)  # JSON-ready

    other = compare_json(reports, baseline=1)
    assert other["baseline"] == "fast" and other["ratios"]["total_cycles"]["base"] == pytest.approx(4.0)


def test_format_ratio():
    assert [format_ratio(x) for x in (0.25, 0.52, 1.0, 12.34, 0.0224, 1234.5, None)] == [
        "0.25×", "0.52×", "1.00×", "12.3×", "0.0224×", "1,234×", "\u2014"]


def test_table_renders_labels_values_and_ratios(reports):
    console = Console(record=True, width=160)
    console.print(compare_table(reports))
    text = console.export_text()
    header = next(line for line in text.splitlines() if "metric" in line)
    assert "base" in header and "fast" in header and "ratio" in header
    line = next(line for line in text.splitlines() if "total cycles" in line)
    assert "1,000" in line and "250" in line and "0.25×" in line
    assert "1.50×" in next(line for line in text.splitlines() if "MAC utilization" in line)
    host = next(line for line in text.splitlines() if "bytes host" in line)
    assert host.count("\u2014") == 2  # fast has no host value, so no ratio either
    zero_base = [("a", dict(BASE, stall_cycles=0)), ("b", FAST)]
    console = Console(record=True, width=160)
    console.print(compare_table(zero_base))
    stall = next(line for line in console.export_text().splitlines() if "stall cycles" in line)
    assert "\u2014" in stall  # a baseline of 0 has no ratio
    single = Console(record=True, width=160)
    single.print(compare_table([("only", BASE)]))
    assert "only" in single.export_text() and "ratio" not in single.export_text()


def test_load_reports_labels_and_paths(tmp_path):
    for folder, rep in (("x/run", BASE), ("y/run", FAST), ("solo", BASE)):
        write_json(rep, tmp_path / folder / "report.json")
    loaded = load_reports([tmp_path / "x" / "run", tmp_path / "y" / "run" / "report.json", tmp_path / "solo",
                           tmp_path / "solo"])
    assert [label for label, _ in loaded] == ["x/run", "y/run", "solo", "solo (2)"]
    assert loaded[1][1]["total_cycles"] == 250
    assert [label for label, _ in load_reports([tmp_path / "solo"])] == ["solo"]


def test_load_reports_errors_are_one_line(tmp_path):
    write_json(BASE, tmp_path / "ok" / "report.json")
    missing = tmp_path / "missing"
    with pytest.raises(AccelsimError) as e:
        load_reports([tmp_path / "ok", missing])
    assert "\n" not in str(e.value) and str(e.value).startswith(f"{missing}: no report.json")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "report.json").write_text("{not json")
    with pytest.raises(AccelsimError, match="not valid JSON"):
        load_reports([tmp_path / "bad"])
    with pytest.raises(AccelsimError, match="no reports"):
        load_reports([])
    with pytest.raises(AccelsimError, match="out of range"):
        compare_table([("a", BASE)], baseline=3)
