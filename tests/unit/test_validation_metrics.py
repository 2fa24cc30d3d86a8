"""benchmarks/validation's figures: each row's simulated value (host or device time plus formula terms), MAPE,
bias and worst row per view, the targets, and the files written."""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))

from validation import FilePlan, RowSpec, bias, evaluate, job, mape, summarize  # noqa: E402  (benchmarks/validation/)
from validation.model import View  # noqa: E402
from validation.report import BEGIN, END, markdown, write_markdown, write_outputs  # noqa: E402

J1 = job("a100", "gemm", m=1, n=1, k=1)
J2 = job("a100", "gelu", elements=8)
SIMS = {J1: (30e-6, 10e-6), J2: (12e-6, 2e-6)}  # (report seconds, launch overhead)


def _plan() -> FilePlan:
    plan = FilePlan("x/matmul_A100.csv", Path("matmul_A100.csv"), "matmul", "a100", "a100", "host")
    plan.rows = [RowSpec("host", 25e-6, ((J1, 1, "host"),)),                         # 30 us: +20 %
                 RowSpec("device", 40e-6, ((J1, 2, "device"),)),                     # 2 x 20 us: 0 %
                 RowSpec("mixed", 50e-6, ((J2, 1, "device"),), extra_s=30e-6),       # 10 + 30 us: -20 %
                 RowSpec("formula", 4e-6, (), extra_s=5e-6, tags=frozenset({"f"}))]  # +25 %
    plan.views = [View("all", lambda r: True, "gemm"), View("formula only", lambda r: "f" in r.tags),
                  View("none", lambda r: False, "vector")]
    return plan


def test_evaluate_rows_and_views():
    res = evaluate(_plan(), SIMS)
    assert [r.simulated_s for r in res.rows] == pytest.approx([30e-6, 40e-6, 40e-6, 5e-6])
    assert [r.error for r in res.rows] == pytest.approx([0.2, 0.0, -0.2, 0.25])
    everything, formula, none = res.views
    assert (everything.rows, everything.mape, everything.bias) == (4, pytest.approx(16.25), pytest.approx(6.25))
    assert (everything.worst_key, everything.worst_error) == ("formula", pytest.approx(25.0))
    assert everything.threshold == 8.0 and everything.met is False
    assert formula.met is None and formula.mape == pytest.approx(25.0)
    assert none.rows == 0 and math.isnan(none.mape) and none.met is None
    assert mape(res.rows) == everything.mape and bias(res.rows) == everything.bias
    assert math.isnan(mape([])) and math.isnan(bias([]))


def test_summary_against_targets():
    summary = {s["target"]: s for s in summarize([evaluate(_plan(), SIMS)])}
    assert set(summary) == {"gemm", "vector", "vidur", "gpt3", "allreduce", "aic_gemm", "flash_attention", "nccl",
                            "vidur_kernel", "held_out_gemm_bf16", "held_out_gemm_fp8",
                            "held_out_attention", "held_out_nccl"}
    gemm = summary["gemm"]
    assert not gemm["met"] and gemm["members"][0]["why"] == ("bias +6 % (accelsim slower); < 50 us: 15 % MAPE (3 rows); "
                                                              ">= 50 us: 20 % MAPE (1 rows)")
    assert summary["vidur"]["members"] == [] and not summary["vidur"]["met"]


def test_written_files(tmp_path):
    res = evaluate(_plan(), SIMS)
    res.plan.skipped = [("row 9", "why not")]
    paths = write_outputs(tmp_path, [res], summarize([res]), plot=False)
    assert [p.name for p in paths] == ["validation.csv", "skipped.csv", "summary.json"]
    with open(paths[0], newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["file", "key", "measured_s", "simulated_s", "error"]
    assert rows[1] == ["x/matmul_A100.csv", "host", "2.500000e-05", "3.000000e-05", "0.20000"]
    assert paths[1].read_text().splitlines()[1] == "x/matmul_A100.csv,row 9,why not"
    files = json.loads(paths[2].read_text())["files"]
    assert files[0]["rows"] == 4 and files[0]["views"][0]["mape"] == pytest.approx(16.25)


def test_markdown_tables_and_splice(tmp_path):
    res = evaluate(_plan(), SIMS)
    paths = write_outputs(tmp_path, [res], summarize([res]), plot=False)
    text = markdown(json.loads(paths[2].read_text()), "python benchmarks/validate.py", "test box")
    # the "all" view: 4 rows, MAPE (20 + 0 + 20 + 25) / 4 = 16.25 %, bias (20 + 0 - 20 + 25) / 4 = +6.25 %
    row = next(line for line in text.splitlines() if line.startswith("| all |")).split("|")[1:-1]
    assert [c.strip() for c in row[:2] + row[4:]] == ["all", "4", "formula", "+25.0 %", "gemm: missed"]
    assert float(row[2].strip(" %")) == pytest.approx(16.25, abs=0.051)
    assert float(row[3].strip(" %")) == pytest.approx(6.25, abs=0.051)
    assert "| none |" not in text.split("### x/matmul_A100.csv")[1]  # the file's views without rows are left out
    # the targets at a glance: the "gemm" target counts this file's "all" view (16.25 % against its 8 %); a target
    # no file counts shows as one "no data" line
    lines = text.splitlines()
    assert lines.index("### Targets at a glance") < lines.index("### x/matmul_A100.csv")
    gemm = next(line for line in lines if line.startswith("| A100 GEMMs >= 50 us")).split("|")[1:-1]
    cells = [c.strip() for c in gemm]
    assert cells[:5] + cells[6:] == ["A100 GEMMs >= 50 us (LLMCompass, host time)", "8 %", "x/matmul_A100.csv",
                                     "all", "4", "missed"]
    assert float(cells[5].strip(" %")) == pytest.approx(16.25, abs=0.051)
    vidur = next(line for line in lines if line.startswith("| Vidur ")).split("|")[1:-1]
    assert [c.strip() for c in vidur][2:] == ["-", "-", "0", "-", "no data"]
    doc = tmp_path / "doc.md"
    doc.write_text(f"intro\n{BEGIN}\nold tables\n{END}\noutro\n")
    write_markdown(doc, text)
    new = doc.read_text()
    assert new.startswith(f"intro\n{BEGIN}\nCommand: `python benchmarks/validate.py`; machine: test box")
    assert new.endswith(f"{END}\noutro\n") and "old tables" not in new
