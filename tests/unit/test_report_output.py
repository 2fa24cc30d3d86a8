"""Report output: report.json and ops.csv writers and reader, the four plots, the roofline formula, console tables.

The reports come from the real report builder (``accelsim.simulate``): LeNet-5 on the gemmini preset (12 ops,
hand-countable) and a ResNet-18 training step on tpu-v1 (263 ops, for the many-ops plot). A test that needs an
odd report edits one field of a real one and says so.

LeNet-5 by hand (workloads/lenet5.yaml: 1×32×32 input, int8 on gemmini):
  MACs   conv1 28·28·6·25 = 117,600; conv2 10·10·16·150 = 240,000; fc1 400·120 = 48,000; fc2 120·84 = 10,080;
         fc3 84·10 = 840; total 416,520.
  params conv1 6·25 + 6 = 156; conv2 16·150 + 16 = 2,416; fc1 48,000 + 120 = 48,120; fc2 10,080 + 84 = 10,164;
         fc3 840 + 10 = 850; total 61,706 (the workload file's figure); of them 6 + 16 + 120 + 84 + 10 = 236 biases,
         stored int32 in an int8 run (TFLite's quantization spec: "int32 bias, scale = input_scale x weight_scale,
         zero point 0"; units.INT_BIAS_DTYPE), 4 B each: 61,706 + 3·236 = 62,414 B of weights and biases.
  ws compute cycles on gemmini's 16×16 array, whose PEs double-buffer weights (arch/gemmini.yaml:
  core.systolic.preload_overlap, PE.scala), so folds pipeline (docs/architecture.md: (S_r, S_c, T) = (K, N, M),
  F = F_r·F_c, cycles = R + (F − 1)·max(T, R) + T + R + C − 3 = (F − 1)·max(M, 16) + M + 45: folds start
  max(T, R) apart, the last one waits for no next preload, probe p169 #1): fc1 K=400, N=120, M=1: F_r = 25,
  F_c = 8, F = 200 → 199·16 + 1 + 45 = 3,230; fc2 K=120, N=84: F = 8·6 = 48 → 47·16 + 1 + 45 = 798;
  conv1 K=25, N=6, M=784: F = 2 → 1·784 + 784 + 45 = 1,613; conv2 K=150, N=16, M=100: F = 10 → 9·100 + 100 + 45
  = 1,045; fc3 K=84, N=10: F = 6 → 5·16 + 1 + 45 = 126. (Without the overlap, SCALE-Sim's F·(2R + C + M − 2) − 1: fc1
  200·47 − 1 = 9,399, fc2 2,255, conv1 1,659, conv2 1,459, fc3 281.)
"""

from __future__ import annotations

import copy
import csv
import json
import os

import numpy as np
import pytest
from rich.console import Console

from accelsim import simulate
from accelsim.config import load_workload
from accelsim.errors import AccelsimError
from accelsim.report import writers
from accelsim.report.console import print_summary, summary_table, top_ops_table
from accelsim.report.plots import attainable, op_bars, plot_report
from accelsim.report.writers import read_report, write_json, write_ops_csv

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
LENET_MACS = 117_600 + 240_000 + 48_000 + 10_080 + 840  # 416,520
LENET_PARAMS = 156 + 2_416 + 48_120 + 10_164 + 850  # 61,706
LENET_BIASES = 6 + 16 + 120 + 84 + 10  # 236, int32 (4 B) in the int8 run
LENET_WEIGHT_BYTES = LENET_PARAMS + 3 * LENET_BIASES  # 62,414: int8 weights 1 B, int32 biases 4 B


@pytest.fixture(scope="module")
def lenet() -> dict:
    return simulate("lenet5", "gemmini").to_dict()


@pytest.fixture
def report(lenet) -> dict:
    return copy.deepcopy(lenet)


@pytest.fixture(scope="module")
def training() -> dict:
    return simulate(load_workload("resnet18", ["mode=training", "optimizer=momentum", "batch=4"]), "tpu-v1").to_dict()


def test_the_fixture_is_the_hand_counted_lenet(lenet):
    assert lenet["macs"] == LENET_MACS and lenet["params"] == LENET_PARAMS
    cycles = {op["name"]: op["compute_cycles"] for op in lenet["ops"]}
    assert (cycles["fc1"], cycles["fc2"], cycles["conv1"], cycles["conv2"], cycles["fc3"]) == (
        3_230, 798, 1_613, 1_045, 126)


def test_json_round_trip(tmp_path, report):
    report["macs"] = np.int64(report["macs"])  # a numpy scalar from the summary is written as a plain int
    path = write_json(report, tmp_path / "report.json")
    assert path == tmp_path / "report.json"
    back = read_report(tmp_path)
    assert back["macs"] == LENET_MACS and type(back["macs"]) is int
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
    levels = list(report["bytes"])  # gemmini has no host link: its levels are the scratchpad and DRAM
    assert sorted(levels) == ["hbm", "sram"]
    assert header == [
        "name", "kind", "fn", "unit", "core", "macs", "flops", "start_cycle", "end_cycle", "duration_cycles",
        "ready_to_end_cycles", "compute_cycles", "stall_cycles", *(f"bytes_{lvl}" for lvl in levels),
        *(f"stall_{lvl}" for lvl in report["stalls_by_level"]),
        "tiles", "arithmetic_intensity", "achieved_flops_per_s",
        "achieved_bytes_per_s_hbm",  # one per memory level of the arch (gemmini's DRAM; the scratchpad is no memory)
        "bound", "energy_j",
    ]
    ops = report["ops"]
    assert [float(r["energy_j"]) for r in rows] == [op["energy_j"] for op in ops]  # per-op energy, exact
    assert [r["name"] for r in rows] == [op["name"] for op in ops]
    # int8 weights and int32 biases are each read once from DRAM, plus the 32×32 image in and 10 logits out:
    # 1,024 + 62,414 + 10 = 63,448 bytes
    assert sum(int(r["bytes_hbm"]) for r in rows) == report["bytes"]["hbm"] == 1_024 + LENET_WEIGHT_BYTES + 10
    fc1 = rows[[op["name"] for op in ops].index("fc1")]
    # its weights and bias: 48,000 · 1 B + 120 · 4 B = 48,480 B
    assert int(fc1["bytes_hbm"]) == 48_000 + 4 * 120 and int(fc1["macs"]) == 48_000
    # probe p71 #5: its DRAM rate beside achieved_flops_per_s, those 48,480 B over its span at gemmini's 1 GHz
    span_s = (int(fc1["end_cycle"]) - int(fc1["start_cycle"])) / 1e9
    assert float(fc1["achieved_bytes_per_s_hbm"]) == pytest.approx(48_480 / span_s)
    pool1 = rows[[op["name"] for op in ops].index("pool1")]  # works in the scratchpad: a span, no DRAM bytes
    assert int(pool1["end_cycle"]) > int(pool1["start_cycle"]) and pool1["achieved_bytes_per_s_hbm"] == "0"
    for r, op in zip(rows, ops, strict=True):
        assert int(r["duration_cycles"]) == op["end_cycle"] - op["start_cycle"]
        assert int(r["ready_to_end_cycles"]) == op["end_cycle"] - op["ready_cycle"]
        if op["arithmetic_intensity"] is None:
            assert r["arithmetic_intensity"] == ""
        else:  # numbers are written unformatted, so they read back exactly
            assert float(r["arithmetic_intensity"]) == op["arithmetic_intensity"]
    flatten = rows[[op["name"] for op in ops].index("flatten")]  # a view: no tasks, no time, no bytes
    assert flatten["achieved_flops_per_s"] == "" and flatten["bound"] == "none" and flatten["bytes_hbm"] == "0"
    assert flatten["achieved_bytes_per_s_hbm"] == ""  # no span, no rate


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
    # the file named whole (never "FOLDER: report.json"), and where the text stops: line 2 is ' "ops": [', 9
    # characters, so the value it expects is at column 10
    assert msg == f"{tmp_path / 'report.json'}: not valid JSON: Expecting value (line 2 column 10)"
    (tmp_path / "report.json").write_text("[1, 2]")
    with pytest.raises(AccelsimError, match="not an accelsim report"):
        read_report(tmp_path / "report.json")


@pytest.mark.parametrize("which", ["lenet", "empty", "many-ops"])
def test_plot_report_writes_four_pngs(tmp_path, lenet, training, which):
    rep = {"lenet": lenet, "many-ops": training}.get(which) or dict(lenet, ops=[])  # empty: the ops list emptied
    paths = plot_report(rep, tmp_path)
    assert sorted(p.name for p in paths) == ["bytes_per_level.png", "op_cycles.png", "roofline.png", "utilization.png"]
    for p in paths:
        data = p.read_bytes()
        assert len(data) > 1000 and data.startswith(PNG_MAGIC), p


def test_plot_report_survives_nulls(tmp_path, report):
    # edited fields: nulls where a saved report or a future builder might have them
    report["mac_utilization"] = None
    report["roofline"] = {"peak_flops_per_s": None, "bandwidth_bytes_per_s": None, "ridge_flops_per_byte": None}
    for op in report["ops"]:
        op["arithmetic_intensity"] = None
    paths = plot_report(report, tmp_path, fmt="svg")
    assert all(p.suffix == ".svg" and p.stat().st_size > 0 for p in paths)


def test_op_cycles_bars_are_every_op_or_the_busiest(lenet, training):
    shown, rest = op_bars(lenet["ops"])
    assert shown == lenet["ops"] and rest == []  # 12 ops: all, in execution order
    shown, rest = op_bars(training["ops"])
    assert len(shown) == 40 and len(shown) + len(rest) == len(training["ops"])
    busy = [op["compute_cycles"] for op in shown]
    assert busy == sorted(busy, reverse=True) and min(busy) >= max(op["compute_cycles"] for op in rest)


def test_attainable_is_min_of_peak_and_bandwidth_roof():
    peak, bw = 100e12, 50e9  # ridge at 100e12 / 50e9 = 2000 FLOP/B
    assert attainable(10.0, peak, bw) == pytest.approx(500e9)  # memory bound: 10 * 50e9
    assert attainable(2000.0, peak, bw) == pytest.approx(100e12)  # at the ridge both roofs meet
    assert attainable(1e5, peak, bw) == pytest.approx(100e12)  # compute bound: the peak
    np.testing.assert_allclose(attainable(np.array([1.0, 4000.0]), peak, bw), [50e9, 100e12])
    assert attainable(0.5, peak, float("inf")) == peak  # a memory that never limits


def test_console_tables_render(report):
    console = Console(record=True, width=200)
    print_summary(report, console=console)
    text = console.export_text()
    assert f"{report['total_cycles']:,}" in text
    assert "416,520 (417 k)" in text and "61,706 (61.7 k)" in text  # MACs and params, counted above
    # gemmini.yaml: 1 GHz, one 16×16 ws array, 64 + 64 + 128 KiB of SRAM, 16 GiB of DRAM at 16 GB/s
    assert "gemmini (1GHz, 1 core, 16×16 systolic ws, sram 256KiB, hbm 16GiB at 16GB/s)" in text
    # MAC utilization = MACs / (256 MACs per cycle × total cycles)
    assert f"{100 * LENET_MACS / (256 * report['total_cycles']):.1f} %" in text
    assert "61.96KiB" in text  # DRAM bytes: 63,448 / 1024 = 61.96 KiB


def test_a_note_prints_its_brackets_as_text(report):
    # a note's key advice, --set 'arch.core.vector.output_path=[silu,add]', printed through rich: the brackets
    # were taken as a markup tag and dropped (probe p259 #1: the console showed "output_path='")
    note = "advice: --set 'arch.core.vector.output_path=[silu,add]'"
    console = Console(record=True, width=400)
    print_summary({**report, "notes": [note]}, console=console)
    assert f"note: {note}" in console.export_text()

def test_top_ops_table_orders_by_busy_cycles(report):
    table = top_ops_table(report, n=3)
    assert table.row_count == 3
    assert list(table.columns[0].cells) == ["fc1", "conv1", "conv2"]  # 3,230, 1,613, 1,045 cycles (above)
    assert list(table.columns[3].cells) == ["3,230", "1,613", "1,045"]
    # fc1's off-chip bytes are its DRAM bytes, 48,000 + 4 · 120 = 48,480 B = 47.34 KiB (int32 biases, above)
    assert list(table.columns[6].cells)[0] == "47.34KiB"
    # stall %: stall over stall + compute cycles, both over every unit and execution (hand-written rows): a GEMM
    # on 132 SMs, 100 cycles on the busiest, 13,200 SM-cycles of work, 1,320 of stall → 1,320 / 14,520 = 9.1 %;
    # a composed row of 4 executions of 50 cycles with 200 stall cycles in all → 200 / (200 + 200) = 50.0 %
    hand = dict(report, ops=[{"name": "gpu", "compute_cycles": 100, "stall_cycles": 1_320,
                              "mapping": {"work_cycles": 13_200}},
                             {"name": "composed", "count": 4, "compute_cycles": 50, "stall_cycles": 200}])
    # (the composed row ranks first: its 4 executions keep the unit busy 4 x 50 = 200 cycles, the GPU op 100)
    stall = next(c for c in top_ops_table(hand).columns if c.header == "stall %")
    assert list(stall.cells) == ["50.0", "9.1"]
    empty = dict(report, ops=[])  # edited: no ops
    assert summary_table(empty).row_count > 0
    assert top_ops_table(empty).row_count == 0


def test_the_summary_labels_stall_cycles_as_summed_over_units():
    # two units each stalling 300 cycles of a 400-cycle run: report.json's stall_cycles is their sum, 600 > 400
    # (docs/architecture.md: "sum over compute tasks of their stall"); the console and HTML rows say so, the key
    # stays stall_cycles
    from accelsim.report.html import _summary  # the HTML summary table

    rep = {"total_cycles": 400, "seconds": 4e-7, "stall_cycles": 600, "stalls_by_level": {"hbm": 600}}
    console = Console(record=True, width=200)
    console.print(summary_table(rep))
    row = next(line for line in console.export_text().splitlines() if "600" in line and "stall" in line)
    assert "stall cycles (summed over units)" in row and "  stall hbm" not in row
    assert "<th>stall cycles (summed over units)</th><td>600</td>" in _summary(rep)


# ---- bytes lists every level of the arch, touched or not ----------------------------------------------------------
_L2_CHIPS = {"name": "l2x4", "clock": "1GHz", "dtype": "int8", "cores": 2,
             "core": {"systolic": {"rows": 64, "cols": 64}, "vector": {"lanes": 64}, "sram": {"unified": "2MiB"}},
             "l2": {"capacity": "8MiB", "bandwidth": "512GB/s", "latency": "20ns"},
             "hbm": {"capacity": "16GiB", "bandwidth": "256GB/s", "latency": "100ns"},
             "chips": 4, "interconnect": {"bandwidth": "100GB/s", "latency": "1us", "topology": "ring"}}


def test_bytes_and_ops_csv_list_every_level_and_the_link_whatever_the_workload_touches(tmp_path):
    # an all-reduce moves link and main-memory bytes: l2 untouched reads 0, as host and ssd did before
    # (found by a probing user: bytes had no l2 while stalls_by_level, utilization and levels did)
    ar = simulate({"model": "collective", "op": "all_reduce", "bytes": 1 << 20}, _L2_CHIPS).to_dict()
    levels = [lv["name"] for lv in ar["levels"]]
    assert levels == ["sram", "l2", "hbm"]
    assert list(ar["bytes"]) == [*levels, "link"] and ar["bytes"]["l2"] == 0
    # ring all-reduce over 4 chips: each chip sends 2 (p − 1)/p = 1.5 × 1 MiB, and its HBM holds the input read, the
    # output written and each received byte through the FIFO (cost.collective.memory_traffic, probe p66):
    # 1 + 1 + 2 × 1.5 = 5 MiB
    assert ar["bytes"]["link"] == 3 * (1 << 20) // 2
    assert ar["bytes"]["hbm"] == 5 * (1 << 20)
    # a GEMM on the same arch touches l2 and hbm, not the link: the same keys, link 0
    gemm = simulate({"model": "gemm", "m": 256, "n": 256, "k": 256}, _L2_CHIPS).to_dict()
    assert list(gemm["bytes"]) == list(ar["bytes"]) and gemm["bytes"]["link"] == 0 and gemm["bytes"]["l2"] > 0
    headers = []
    for name, rep in (("ar", ar), ("gemm", gemm)):
        write_ops_csv(rep, tmp_path / f"{name}.csv")
        with open(tmp_path / f"{name}.csv", newline="") as f:
            headers.append(next(csv.reader(f)))
    assert headers[0] == headers[1]  # one arch, one set of columns
    assert [c for c in headers[0] if c.startswith("bytes_")] == ["bytes_sram", "bytes_l2", "bytes_hbm", "bytes_link"]
