"""Report output: report.json and ops.csv writers and reader, the four plots, the roofline formula, console tables.

The fixture is a hand-built report dict in the report.json shape (a small ResNet-like run on a TPU-v1-like chip),
with each op's derived fields computed here from its own numbers, so these tests do not depend on the simulator.
"""

from __future__ import annotations

import copy
import csv
import json
import os

import numpy as np
import pytest
from rich.console import Console

from accelsim.errors import AccelsimError
from accelsim.report import writers
from accelsim.report.console import print_summary, summary_table, top_ops_table
from accelsim.report.plots import attainable, plot_report
from accelsim.report.writers import read_report, write_json, write_ops_csv

CLOCK_HZ = 7e8
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _op(name, kind, fn, unit, macs, flops, start, end, compute, stalls, nbytes, tiles, bound):
    offchip = sum(v for k, v in nbytes.items() if k != "sram")
    return {
        "name": name, "kind": kind, "fn": fn, "unit": unit, "core": 0,
        "macs": macs, "flops": flops, "start_cycle": start, "end_cycle": end,
        "compute_cycles": compute, "stall_cycles": sum(stalls.values()), "stalls_by_level": stalls,
        "bytes": nbytes, "tiles": tiles,
        "arithmetic_intensity": flops / offchip if offchip else None,
        "achieved_flops_per_s": flops / ((end - start) / CLOCK_HZ) if end > start else None,
        "bound": bound,
    }


def _report(ops: list[dict]) -> dict:
    levels = ("sram", "hbm", "host")
    nbytes = {lvl: sum(op["bytes"].get(lvl, 0) for op in ops) for lvl in levels}
    stalls = {lvl: sum(op["stalls_by_level"].get(lvl, 0) for op in ops) for lvl in ("hbm", "host")}
    total_cycles = max((op["end_cycle"] for op in ops), default=0)
    flops = sum(op["flops"] for op in ops)
    peak, bw = 2 * 65536 * CLOCK_HZ, 3.4e10
    return {
        "accelsim_version": "0.1.0", "name": "resnet_tiny_tpu_v1",
        "workload": {"model": "resnet50", "name": "resnet50", "params": {"image_size": 224}, "batch": 1,
                     "dtype": "int8"},
        "arch": {"name": "tpu-v1", "clock_hz": CLOCK_HZ, "cores": 1, "peak_macs_per_cycle": 65536,
                 "peak_flops_per_s": peak, "memory_bytes_per_s": {"hbm": bw, "host": 1.575e10},
                 "sram_bytes": 25165824},
        "total_cycles": total_cycles, "seconds": total_cycles / CLOCK_HZ, "clock_hz": CLOCK_HZ,
        "macs": sum(op["macs"] for op in ops), "flops": flops, "params": 25557032,
        "utilization": {"core0.systolic0": 0.61, "core0.vector": 0.05, "hbm": 0.9, "host": 0.0},
        "mac_utilization": 0.42,
        "stall_cycles": sum(stalls.values()), "stalls_by_level": stalls,
        "bytes": nbytes,
        "roofline": {"peak_flops_per_s": peak, "bandwidth_bytes_per_s": bw, "ridge_flops_per_byte": peak / bw},
        "simulation": {"tasks": 10 * len(ops), "events": 20 * len(ops)},
        "ops": ops,
    }


def _fixture_report() -> dict:
    ops = [
        _op("conv1", "conv", "conv", "core0.systolic0", 118013952, 236027904, 0, 9000, 7000,
            {"hbm": 1500}, {"sram": 1_300_000, "hbm": 160_000}, 4, "compute"),
        _op("bn1_relu", "elementwise", "relu", "core0.vector", 0, 1605632, 9000, 10200, 800,
            {"hbm": 400}, {"sram": 1_605_632, "hbm": 0}, 2, "memory"),
        _op("maxpool", "pool", "maxpool", "core0.vector", 0, 1806336, 10200, 11000, 700,
            {}, {"sram": 1_003_520}, 1, "memory"),
        _op("layer1.conv", "conv", "conv", "core0.systolic0", 115605504, 231211008, 11000, 16000, 3500,
            {"hbm": 1200, "host": 300}, {"sram": 900_000, "hbm": 37_000, "host": 4096}, 3, "compute"),
        _op("flatten", "view", "view", "core0.vector", 0, 0, 16000, 16000, 0, {}, {}, 0, "none"),
        # 2 MB of int8 weights at 34 GB/s (48.6 B/cycle at 700 MHz) take >= 42,160 cycles: memory bound
        _op("fc", "linear", "linear", "core0.systolic0", 2048000, 4096000, 16000, 60000, 1500,
            {"hbm": 42000}, {"sram": 10_000, "hbm": 2_049_000}, 2, "memory"),
    ]
    return _report(ops)


@pytest.fixture
def report() -> dict:
    return _fixture_report()


def test_json_round_trip(tmp_path, report):
    report["macs"] = np.int64(report["macs"])  # a numpy scalar from the summary is written as a plain int
    path = write_json(report, tmp_path / "report.json")
    assert path == tmp_path / "report.json"
    back = read_report(tmp_path)
    assert back == json.loads(json.dumps(report, default=int))
    assert list(back) == list(report)  # insertion order kept
    assert read_report(path) == back


def test_atomic_writers_leave_only_their_files(tmp_path, report):
    write_json(report, tmp_path / "report.json")
    write_ops_csv(report, tmp_path / "ops.csv")
    write_json(report, tmp_path / "report.json")  # overwrite in place
    assert sorted(os.listdir(tmp_path)) == ["ops.csv", "report.json"]


def test_atomic_writer_cleans_up_when_replace_fails(tmp_path, report, monkeypatch):
    write_json(report, tmp_path / "report.json")
    before = (tmp_path / "report.json").read_bytes()

    def boom(src, dst):
        raise OSError("disk gone")

    monkeypatch.setattr(writers.os, "replace", boom)
    changed = dict(report, name="other")
    with pytest.raises(OSError):
        write_json(changed, tmp_path / "report.json")
    assert os.listdir(tmp_path) == ["report.json"]
    assert (tmp_path / "report.json").read_bytes() == before


def test_ops_csv_rows_and_columns(tmp_path, report):
    write_ops_csv(report, tmp_path / "ops.csv")
    with open(tmp_path / "ops.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    with open(tmp_path / "ops.csv", newline="") as f:
        header = next(csv.reader(f))
    assert header == [
        "name", "kind", "fn", "unit", "core", "macs", "flops", "start_cycle", "end_cycle", "duration_cycles",
        "compute_cycles", "stall_cycles", "bytes_sram", "bytes_hbm", "bytes_host", "stall_hbm", "stall_host",
        "tiles", "arithmetic_intensity", "achieved_flops_per_s", "bound",
    ]
    ops = report["ops"]
    assert [r["name"] for r in rows] == [op["name"] for op in ops]
    assert sum(int(r["bytes_hbm"]) for r in rows) == sum(op["bytes"].get("hbm", 0) for op in ops)
    assert sum(int(r["stall_host"]) for r in rows) == sum(op["stalls_by_level"].get("host", 0) for op in ops)
    for r, op in zip(rows, ops, strict=True):
        assert int(r["duration_cycles"]) == op["end_cycle"] - op["start_cycle"]
        if op["arithmetic_intensity"] is None:
            assert r["arithmetic_intensity"] == ""
        else:  # numbers are written unformatted, so they read back exactly
            assert float(r["arithmetic_intensity"]) == op["arithmetic_intensity"]
    flatten = rows[[op["name"] for op in ops].index("flatten")]
    assert flatten["achieved_flops_per_s"] == "" and flatten["bound"] == "none" and flatten["bytes_hbm"] == "0"


def test_read_report_missing_dir(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(AccelsimError) as e:
        read_report(missing)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg == f"{missing}: no report.json (run 'accelsim run ... -o {missing}' first)"
    with pytest.raises(AccelsimError, match="no report.json"):
        read_report(tmp_path)  # an existing folder without a report


def test_read_report_corrupt_file(tmp_path):
    (tmp_path / "report.json").write_text('{"total_cycles": 12,\n "ops": [')
    with pytest.raises(AccelsimError) as e:
        read_report(tmp_path)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"{tmp_path}: report.json is not valid JSON: ")
    (tmp_path / "report.json").write_text("[1, 2]")
    with pytest.raises(AccelsimError, match="not an accelsim report"):
        read_report(tmp_path / "report.json")


def _empty_report() -> dict:
    empty = _report([])
    empty["utilization"] = {"core0.systolic0": 0.0, "core0.vector": 0.0, "hbm": 0.0, "host": 0.0}
    empty["mac_utilization"] = 0.0
    return empty


def _many_ops_report(n: int = 300) -> dict:
    rng = np.random.default_rng(0)
    ops, t = [], 0
    for i in range(n):
        kind = ("conv", "linear", "elementwise", "norm")[i % 4]
        dur = int(rng.integers(100, 20000))
        stall = int(dur * rng.uniform(0, 0.4))
        hbm = int(dur * 48 * rng.uniform(0.01, 1))  # under 34 GB/s at 700 MHz (48.6 B/cycle)
        flops = int(dur * 131072 * rng.uniform(0.001, 0.8))  # under the peak, 2 * 65536 FLOP/cycle
        ops.append(_op(f"op{i}", kind, kind, "core0.systolic0", flops // 2, flops, t, t + dur, dur - stall,
                       {"hbm": stall}, {"sram": 3 * hbm, "hbm": hbm}, 1, "compute"))
        t += dur
    return _report(ops)


@pytest.mark.parametrize("make", [None, _empty_report, _many_ops_report], ids=["fixture", "empty", "many-ops"])
def test_plot_report_writes_four_pngs(tmp_path, report, make):
    rep = report if make is None else make()
    paths = plot_report(rep, tmp_path)
    assert sorted(p.name for p in paths) == ["bytes_per_level.png", "op_cycles.png", "roofline.png", "utilization.png"]
    for p in paths:
        data = p.read_bytes()
        assert len(data) > 1000 and data.startswith(PNG_MAGIC), p


def test_plot_report_survives_nulls(tmp_path, report):
    rep = copy.deepcopy(report)
    rep["mac_utilization"] = None
    rep["roofline"] = {"peak_flops_per_s": None, "bandwidth_bytes_per_s": None, "ridge_flops_per_byte": None}
    rep["bytes"]["host"] = 0
    for op in rep["ops"]:
        op["arithmetic_intensity"] = None
    paths = plot_report(rep, tmp_path, fmt="svg")
    assert all(p.suffix == ".svg" and p.stat().st_size > 0 for p in paths)


def test_attainable_is_min_of_peak_and_bandwidth_roof():
    peak, bw = 100e12, 50e9  # ridge at 100e12 / 50e9 = 2000 FLOP/B
    assert attainable(10.0, peak, bw) == pytest.approx(500e9)  # memory bound: 10 * 50e9
    assert attainable(2000.0, peak, bw) == pytest.approx(100e12)  # at the ridge both roofs meet
    assert attainable(1e5, peak, bw) == pytest.approx(100e12)  # compute bound: the peak
    np.testing.assert_allclose(attainable(np.array([1.0, 4000.0]), peak, bw), [50e9, 100e12])
    assert attainable(0.5, peak, float("inf")) == peak  # a memory that never limits


def test_console_tables_render(report):
    console = Console(record=True, width=120)
    print_summary(report, console=console)
    text = console.export_text()
    assert f"{report['total_cycles']:,}" in text  # "60,000"
    top = max(report["ops"], key=lambda op: op["end_cycle"] - op["start_cycle"])
    assert top["name"] == "fc" and "fc" in text
    assert "tpu-v1" in text and "42.0 %" in text


def test_top_ops_table_orders_by_cycles(report):
    table = top_ops_table(report, n=3)
    assert table.row_count == 3
    assert list(table.columns[0].cells) == ["fc", "conv1", "layer1.conv"]  # 44000, 9000, 5000 cycles
    assert summary_table(_empty_report()).row_count > 0
    assert top_ops_table(_empty_report()).row_count == 0
