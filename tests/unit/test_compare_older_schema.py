"""Probe p145 #2, #3: ``accelsim compare`` of a report written by an older accelsim beside a current one: the keys
the older schema lacks are one line, not settings that differ; its per-chip peak power is derived."""

from __future__ import annotations

import copy

import pytest
from rich.console import Console

import accelsim
from accelsim.report.compare import (
    ARCH_SUMMARY_FIELDS,
    compare_json,
    compare_rows,
    compare_table,
    differing_settings,
    older_schema_settings,
)


@pytest.fixture(scope="module")
def new():
    return accelsim.simulate({"model": "gemm", "m": 64, "n": 64, "k": 64}, "tpu-v1", plots=False).to_dict()


def _older(report: dict) -> dict:
    """``report`` as accelsim wrote it at 135a09f4 (the probe's oldest report of resnet18 on tpu-v1): its arch
    summary without vector, on_chip_bytes and levels (memory_bytes_per_s only), no kernel_order, and power
    without peak_w_per_chip."""
    old = copy.deepcopy(report)
    for key in ("vector", "on_chip_bytes", "levels"):
        del old["arch"][key]
    del old["kernel_order"]
    del old["power"]["peak_w_per_chip"]
    return old


def test_the_arch_fields_taken_as_a_schema_are_those_every_current_report_carries(new):
    # a one-chip arch without core.units: every field but name, and none of the conditional units / interconnect
    assert set(ARCH_SUMMARY_FIELDS) == set(new["arch"]) - {"name"}


def test_an_older_reports_schema_is_one_line_not_settings_that_differ(new):
    old = _older(new)
    pair = [("old", old), ("new", new)]
    # the same preset: memory_bytes_per_s.hbm and levels.hbm.bytes_per_s are one figure, tpu-v1's 34 GB/s DDR3
    # (DESIGN.md), and compare as arch.hbm.bandwidth; before: 15 rows on the probe's resnet18 pair
    assert old["arch"]["memory_bytes_per_s"]["hbm"] == new["arch"]["levels"]["hbm"]["bytes_per_s"] == 34e9
    assert differing_settings(pair) == []
    # what old lacks: vector.lanes (1), on_chip_bytes (1), 4 fields (role, capacity, latency, access_bytes) of each
    # of tpu-v1's 2 memory levels (hbm, host) beyond the bandwidth it has as memory_bytes_per_s (8), kernel_order
    # (1): 11
    older = older_schema_settings(pair)
    assert len(older) == 1 + 1 + 4 * 2 + 1 and all(labels == ["old"] for labels in older.values())
    assert {"arch.core.vector.lanes", "arch.on_chip_bytes", "arch.hbm.capacity", "arch.host.latency",
            "kernel_order"} <= set(older)
    assert "arch.hbm.bandwidth" not in older  # compared (the same), not counted
    assert compare_json(pair)["settings"] == {} and compare_json(pair)["settings_not_compared"] == older
    console = Console(record=True, width=200)
    console.print(compare_table(pair))
    lines = [line for line in console.export_text().splitlines() if line.startswith("│")]  # the table's rows
    at = next(i for i, line in enumerate(lines) if line.split("│")[1].strip() == "arch")
    assert lines[at + 1].split("│")[1].strip() == "11 settings newer than old's schema"
    assert "total cycles" in lines[at + 2]  # one line, then the metrics


def test_an_older_report_of_other_hardware_still_says_so(new):
    old = _older(new)
    old["arch"]["memory_bytes_per_s"]["hbm"] = 68e9  # a `--set arch.hbm.bandwidth=68GB/s` run (README's example)
    assert differing_settings([("old", old), ("new", new)]) == [("arch.hbm.bandwidth", [68e9, 34e9])]


def test_an_older_reports_peak_power_a_chip_is_its_peak_over_its_chips(new):
    old = _older(new)
    # one chip: the chip's peak is the peak
    assert old["power"]["chips"] == 1
    rows = dict(compare_rows([("old", old), ("new", new)]))
    assert rows["power.peak_w_per_chip"] == [old["power"]["peak_w"], new["power"]["peak_w_per_chip"]]
    # four chips drawing 200 W at peak: 200 / 4 = 50 W a chip (energy/model.py writes peak_w = the chip's × chips)
    old["power"].update(chips=4, peak_w=200.0)
    assert dict(compare_rows([("old", old)]))["power.peak_w_per_chip"] == [50.0]
    del old["power"]["chips"]  # an even older report, which does not say over how many chips: unknown
    assert dict(compare_rows([("old", old)]))["power.peak_w_per_chip"] == [None]
