"""Renderers loop over the report's memory levels and never name one: the console, the HTML page, the plots,
``accelsim compare`` and the sweep metrics show whatever levels a report has, innermost first.

The reports are LeNet-5 on gemmini from the real builder (``accelsim.simulate``), edited two ways: its DRAM
level renamed (``hbm`` → ``ddr`` wherever a level name stands), and a CXL memory level added after the main
memory with hand-written traffic. Byte figures below are worked from tests/unit/test_report_output.py's counts.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
from rich.console import Console

from accelsim import simulate
from accelsim.report import plots, schema
from accelsim.report.compare import compare_rows
from accelsim.report.console import print_summary
from accelsim.report.html import render_html
from accelsim.sweep.store import metrics_from_report, record, table

LENET_PARAMS = 156 + 2_416 + 48_120 + 10_164 + 850  # 61,706
# the image in, every weight and bias once (its 6 + 16 + 120 + 84 + 10 = 236 biases int32 in the int8 run, 3 B more
# each: TFLite's quantization spec, units.INT_BIAS_DTYPE), the logits out: 1,024 + 61,706 + 708 + 10 = 63,448
LENET_DRAM_BYTES = 1_024 + LENET_PARAMS + 3 * 236 + 10
LENET_FLOPS = 850_794  # tests/unit/test_report_html.py adds it up
CXL_BYTES = 4096  # the traffic the test gives the added level (fc1 reads 4 KiB from it)
RENDERER_FILES = ("report/console.py", "report/html.py", "report/plots.py", "report/compare.py", "sweep/store.py",
                  "sweep/plots.py")


@pytest.fixture(scope="module")
def lenet() -> dict:
    return simulate("lenet5", "gemmini").to_dict()


def _rename(value: object, old: str, new: str) -> object:
    """``value`` with every dict key and string equal to ``old`` replaced by ``new`` (a level renamed)."""
    if isinstance(value, dict):
        return {(new if k == old else k): _rename(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_rename(v, old, new) for v in value]
    return new if value == old else value


def _console_text(report: dict) -> str:
    console = Console(record=True, width=250)
    print_summary(report, console)
    return console.export_text()


def _csv_header(report: dict) -> list[str]:
    return table([record("p0", {"x": 1}, metrics=metrics_from_report(report))], ["x"])[0]


def test_no_renderer_source_names_a_level():
    root = Path(schema.__file__).resolve().parents[1]
    for rel in RENDERER_FILES:
        src = (root / rel).read_text(encoding="utf-8")
        named = re.findall(r"""["'](hbm|host|l2|sram|HBM)["']""", src)
        assert not named, f"{rel} names memory level(s) {named}"


def test_a_renamed_main_memory_is_shown_under_its_name(lenet):
    ddr = _rename(copy.deepcopy(lenet), "hbm", "ddr")  # edited: the DRAM level is called ddr
    assert schema.main_memory(ddr) == "ddr" and schema.main_memory(lenet) == "hbm"
    outputs = {"console": _console_text(ddr), "html": render_html(ddr, plots=False),
               "compare": " ".join(m for m, _ in compare_rows([("a", ddr)])), "csv": " ".join(_csv_header(ddr))}
    for where, text in outputs.items():
        assert "hbm" not in text.lower(), where
    assert "bytes ddr" in outputs["console"] and "61.96KiB" in outputs["console"]  # 63,448 B / 1024
    assert '<div class="v">61.96KiB</div><div class="k">ddr bytes</div>' in outputs["html"]
    assert "16GB/s ddr" in outputs["html"]  # the roofline's memory
    assert "utilization.ddr" in outputs["compare"] and "bytes.ddr" in outputs["compare"]
    assert "bytes.ddr" in outputs["csv"] and "stalls_by_level.ddr" in outputs["csv"]


@pytest.fixture(scope="module")
def with_cxl(lenet) -> dict:
    """LeNet-5's report with a CXL memory level after its main memory, fc1 reading 4 KiB from it (edited)."""
    rep = copy.deepcopy(lenet)
    levels = [dict(lv) for lv in schema.levels(rep)]
    main = [lv["name"] for lv in levels].index("hbm")
    levels.insert(main + 1, {"name": "cxl", "role": "memory", "capacity": 2**30, "bandwidth": 64e9})
    rep["levels"] = levels
    fc1 = next(op for op in rep["ops"] if op["name"] == "fc1")
    fc1["bytes"]["cxl"] = CXL_BYTES
    fc1["stalls_by_level"]["cxl"] = 100
    rep["bytes"]["cxl"] = CXL_BYTES
    rep["stalls_by_level"]["cxl"] = 100
    rep["utilization"]["cxl"] = 0.25
    return rep


def test_an_added_level_reaches_every_renderer(with_cxl):
    text = _console_text(with_cxl)
    assert re.search(r"bytes cxl\s+│\s+4KiB", text) and re.search(r"stall cxl\s+│\s+100", text)
    assert "cxl 1GiB at 64GB/s" in text  # the arch line lists it with its capacity and bandwidth
    fc1 = next(line for line in text.splitlines() if " fc1 " in line)
    # off-chip bytes: 48,000 int8 weights + 120 int32 biases = 48,480 from DRAM + 4,096 from CXL = 52,576 B = 51.34 KiB
    assert "51.34KiB" in fc1
    page = render_html(with_cxl, plots=False)
    assert '<div class="v">4KiB</div><div class="k">cxl bytes</div>' in page
    assert "<th class=\"n\">bytes cxl</th>" in page and "<tr><td>cxl</td>" in page
    rows = dict(compare_rows([("a", with_cxl)]))
    assert rows["bytes.cxl"] == [CXL_BYTES] and rows["utilization.cxl"] == [0.25]
    header = _csv_header(with_cxl)
    assert {"bytes.hbm", "bytes.cxl", "stalls_by_level.cxl", "utilization.cxl"} <= set(header)
    assert header.index("bytes.hbm") < header.index("bytes.cxl")  # innermost first
    # the whole run on the roofline: FLOPs per byte of every memory level, the scratchpad's left out
    ai, _ = plots._run_point(with_cxl)
    assert ai == pytest.approx(LENET_FLOPS / (LENET_DRAM_BYTES + CXL_BYTES))


def test_sweep_metrics_keep_their_keys(lenet):
    metrics = metrics_from_report(lenet)
    assert metrics["bytes"]["hbm"] == LENET_DRAM_BYTES and "sram" in metrics["bytes"]
    # gemmini.yaml: 64 + 64 + 128 KiB of SRAM, one 16×16 array
    assert metrics["sram_bytes"] == 256 * 1024 and metrics["energy_j"] == lenet["energy"]["total_j"]
    assert "bytes.hbm" in _csv_header(lenet) and "area_mm2" in _csv_header(lenet)


def test_levels_fall_back_to_the_bytes_of_an_older_report(lenet):
    old = {k: v for k, v in lenet.items() if k != "levels"}  # edited: a report saved before "levels" existed
    levels = schema.levels(old)
    assert [lv["name"] for lv in levels] == list(old["bytes"])
    assert {lv["name"]: lv["role"] for lv in levels} == {"sram": "scratchpad", "hbm": "memory"}
    hbm = next(lv for lv in levels if lv["name"] == "hbm")
    assert hbm["capacity"] == 16 * 2**30 and hbm["bandwidth"] == 16e9  # gemmini.yaml: 16 GiB at 16 GB/s
