"""How the terminal summary and ops.csv show a composed report (a serving run: its rows stand for several
executions, ``count``, of one phase), built through the real simulation and report builder."""

from __future__ import annotations

import csv

import pytest

from accelsim import simulate
from accelsim.config import load_workload
from accelsim.report import fmt
from accelsim.report.console import summary_table, top_ops_table
from accelsim.report.writers import write_ops_csv


@pytest.fixture(scope="module")
def served() -> dict:
    # GPT-2 (12 layers), batch 1: a 64-token prompt, then 3 decode steps (all simulated)
    return simulate(load_workload("gpt2", ["seq_len=64", "decode_steps=3"]), "a100").to_dict()


@pytest.fixture(scope="module")
def plain() -> dict:
    return simulate(load_workload("gpt2", ["seq_len=64"]), "a100").to_dict()


def _rows(table) -> dict[str, str]:
    labels, values = (list(c.cells) for c in table.columns)
    return dict(zip(labels, values, strict=True))


def _column(table, header: str) -> list[str]:
    return list(next(c for c in table.columns if c.header == header).cells)


def test_summary_of_a_serving_run_gives_its_latencies_and_throughput(served, plain):
    s = served["serving"]
    row = _rows(summary_table(served))["serving"]
    assert row == (f"TTFT {fmt.seconds(s['ttft_s'])}, TPOT {fmt.seconds(s['tpot_s'])}, "
                   f"{fmt.general(s['tokens_per_s'])} tokens/s (batch 1, 3 decode steps)")
    assert "serving" not in _rows(summary_table(plain))  # a plain prefill has no decode steps


def test_top_ops_of_a_serving_run_weigh_each_row_by_its_executions(served):
    ops = served["ops"]
    # every row counts its executions: the decode rows 3 steps (x 11 of the 12 layers for layer 0's rows, which
    # stand for every layer but layer 1 under the default layer samples), the prefill rows 1 (x 11)
    assert {op["count"] for op in ops if op["phase"] == "decode"} == {3, 33}
    assert {op["count"] for op in ops if op["phase"] == "prefill"} == {1, 11}
    busy = sorted(ops, key=lambda op: -op["compute_cycles"] * op["count"])  # stable: ties keep run order
    table = top_ops_table(served, n=5)
    assert _column(table, "op") == [f"{op['name']} ({op['phase']})" for op in busy[:5]]
    assert _column(table, "runs") == [fmt.count(op["count"]) for op in busy[:5]]
    assert _column(table, "busy cycles") == [fmt.count(op["compute_cycles"] * op["count"]) for op in busy[:5]]
    # the span stays that of one execution
    assert _column(table, "span (one run)") == [fmt.count(op["end_cycle"] - op["start_cycle"]) for op in busy[:5]]


def test_top_ops_of_a_plain_run_have_no_runs_column(plain):
    headers = [c.header for c in top_ops_table(plain).columns]
    assert "runs" not in headers and "span" in headers


def test_ops_csv_of_a_serving_run_names_each_rows_phase_and_count(served, plain, tmp_path):
    with write_ops_csv(served, tmp_path / "served.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    header = list(rows[0])
    assert header[header.index("core") + 1: header.index("core") + 3] == ["phase", "count"]
    assert [(r["name"], r["phase"], int(r["count"])) for r in rows] == [
        (op["name"], op["phase"], op["count"]) for op in served["ops"]]
    with write_ops_csv(plain, tmp_path / "plain.csv").open(newline="") as f:
        header = next(csv.reader(f))
    assert "phase" not in header and "count" not in header
