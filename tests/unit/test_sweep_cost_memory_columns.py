"""results.csv shows what each point cost the simulator (report.json's ``simulation``: probe p128 #3) and each
memory level's footprint (report.json's ``memory``: probe p134 #1), named as report.json's keys, flattened; never a
wall-clock time (results must be the same from run to run and executor to executor)."""

from __future__ import annotations

import pytest

from accelsim import api
from accelsim.sweep.store import metrics_from_report, record, record_problem, table

# GPT-2 small's parameter count: 124,439,808 (Radford et al. 2019's "117M" model as Hugging Face's gpt2 checkpoint
# counts it: 12 × (4h² + 2·h·4h + 13h) + (50,257 + 1,024)·h + 2h with h = 768, tied embeddings):
# 12 × 7,087,872 + 51,281 × 768 + 1,536 = 85,054,464 + 39,383,808 + 1,536
GPT2_PARAMS = 12 * (4 * 768**2 + 2 * 768 * 3072 + 13 * 768) + (50257 + 1024) * 768 + 2 * 768


def _row(report: dict) -> dict:
    header, rows = table([record("p", {"x": 1}, metrics=metrics_from_report(report))], ["x"])
    return dict(zip(header, rows[0], strict=True))


def test_a_training_steps_footprint_is_in_its_row():
    assert GPT2_PARAMS == 124_439_808
    rep = api.simulate({"model": "gpt2", "seq_len": 64, "mode": "training"}, "h100", plots=False).to_dict()
    row = _row(rep)
    # mixed-precision Adam on one GPU, per parameter: 16-bit weights 2 B and Adam's fp32 master copy, momentum and
    # variance 12 B (Rajbhandari et al. 2020, ZeRO §3.1); gradients 4 B, kept in fp32 as Megatron-LM forces for
    # bf16 (docs/training.md: "bfloat16 requires gradient accumulation and all-reduce to be done in fp32")
    assert row["memory.hbm.weights"] == 2 * GPT2_PARAMS
    assert row["memory.hbm.gradients"] == 4 * GPT2_PARAMS
    assert row["memory.hbm.optimizer_states"] == 12 * GPT2_PARAMS
    hbm = {k: row[f"memory.hbm.{k}"] for k in ("weights", "kv_cache", "gradients", "optimizer_states", "activations")}
    assert row["memory.hbm.used"] == sum(hbm.values())  # used: the sum of the others (report/schema.py Footprint)
    assert row["memory.hbm.capacity"] == 80 * 2**30  # H100 SXM: 80 GiB of HBM3 (arch/h100.yaml)
    assert row["memory.hbm.fraction"] == pytest.approx(row["memory.hbm.used"] / (80 * 2**30), rel=1e-12)
    # what it cost the simulator: the report's own counts, not a time
    assert (row["simulation.tasks"], row["simulation.events"]) == (rep["simulation"]["tasks"],
                                                                   rep["simulation"]["events"])
    assert row["simulation.tasks"] > 0 and not any("wall" in c for c in row)


def test_an_inference_row_leaves_the_training_figures_empty_and_a_report_without_memory_all():
    inf = api.simulate({"model": "gpt2", "seq_len": 64}, "h100", plots=False).to_dict()
    train = api.simulate({"model": "gpt2", "seq_len": 64, "mode": "training"}, "h100", plots=False).to_dict()
    old = {k: v for k, v in inf.items() if k not in ("memory", "simulation")}  # a report from before either
    header, rows = table([record(n, {"x": n}, metrics=metrics_from_report(r))
                          for n, r in (("i", inf), ("t", train), ("o", old))], ["x"])
    cells = [dict(zip(header, r, strict=True)) for r in rows]
    assert cells[0]["memory.hbm.weights"] == 2 * GPT2_PARAMS and cells[0]["memory.hbm.gradients"] == ""
    assert cells[1]["memory.hbm.gradients"] == 4 * GPT2_PARAMS
    assert all(cells[2][c] == "" for c in header if c.startswith(("memory.", "simulation.")))


def test_a_composed_runs_passes_are_a_column():
    # hand-made report: a serving run of a prefill and 2 decode steps simulated as 3 passes of 10 + 20 + 20 tasks
    rep = {"total_cycles": 100, "seconds": 1e-7,
           "simulation": {"tasks": 50, "events": 120, "passes": 3},
           "memory": {"hbm": {"capacity": 1000, "weights": 200, "kv_cache": 30, "activations": 20, "used": 250,
                              "fraction": 0.25, "note": "not a number"}}}
    row = _row(rep)
    assert (row["simulation.tasks"], row["simulation.events"], row["simulation.passes"]) == (50, 120, 3)
    assert row["memory.hbm.used"] == 250 and row["memory.hbm.fraction"] == 0.25 and "memory.hbm.note" not in row


def test_a_record_with_a_footprint_is_a_result_and_one_with_a_bad_footprint_is_not():
    good = record("a" * 16, {}, metrics={"memory": {"hbm": {"used": 5, "fraction": 0.5}}, "simulation": {"tasks": 1}})
    assert record_problem(good) is None
    bad = record("b" * 16, {}, metrics={"memory": {"hbm": {"used": "5"}}})
    assert record_problem(bad) == "metrics.memory.hbm.used: expected a number, found str"
    flat = record("c" * 16, {}, metrics={"memory": {"hbm": 5}})
    assert record_problem(flat) == "metrics.memory.hbm: expected an object, found int"
