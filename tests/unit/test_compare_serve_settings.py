"""Probe p221 #2: ``accelsim compare`` of two ``accelsim serve`` reports lists the serve settings they differ in (their
``config``: ``workload.arrival.rate``, ``engine.max_num_seqs``, ...), and a redrawn ``serve --sweep`` curve names its
swept key. The reports are real ``accelsim.serve`` runs of 3 requests."""

from __future__ import annotations

import pytest
from rich.console import Console

import accelsim
from accelsim.report.compare import compare_json, compare_table, differing_settings
from accelsim.serving.curve import swept_key

BASE = ["workload.requests=3", "workload.duration=null"]


@pytest.fixture(scope="module")
def served() -> dict[str, dict]:
    # the probe's pair: 4 and 32 requests/s; and one with the README's engine.max_num_seqs changed (128 -> 16)
    return {"r4": accelsim.serve("llama2_7b_h100", overrides=[*BASE, "workload.arrival.rate=4"]).report,
            "r32": accelsim.serve("llama2_7b_h100", overrides=[*BASE, "workload.arrival.rate=32"]).report,
            "seqs16": accelsim.serve("llama2_7b_h100", overrides=[*BASE, "workload.arrival.rate=4",
                                                                  "engine.max_num_seqs=16"]).report}


def test_the_arrival_rate_two_serve_runs_differ_in_is_a_settings_row_below_the_arch(served):
    pair = [("r4", served["r4"]), ("r32", served["r32"])]
    assert differing_settings(pair) == [("workload.arrival.rate", [4.0, 32.0])]  # was [] (no settings rows)
    assert compare_json(pair)["settings"] == {"workload.arrival.rate": {"r4": 4.0, "r32": 32.0}}
    console = Console(record=True, width=200)
    console.print(compare_table(pair))
    lines = console.export_text().splitlines()
    at = next(i for i, line in enumerate(lines) if "workload.arrival.rate" in line)
    assert "arch" in lines[at - 1] and " 4 " in lines[at] and " 32 " in lines[at]
    assert differing_settings([("r4", served["r4"]), ("s", served["seqs16"])]) == \
        [("engine.max_num_seqs", [128, 16])]


def test_a_redrawn_curve_names_the_one_setting_its_points_differ_in(served):
    assert swept_key([served["r4"], served["r32"]]) == "workload.arrival.rate"
    assert swept_key([served["r4"]]) is None  # one point: nothing tells the key
    assert swept_key([served["r32"], served["seqs16"]]) is None  # two settings differ: no one key
