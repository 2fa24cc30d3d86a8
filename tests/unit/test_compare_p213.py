"""Probe p213 (multi-chip LLM inference): `accelsim compare` sets a TP 8 run's one chip beside a TP 1 run's, so its
energy ratio read 0.30x where the system spends 2.42x a token; the energy of every working chip is now a row of its
own, like with like, and report.json gives params_per_chip for an expert-parallel run as `accelsim info` does."""

from __future__ import annotations

import pytest
from rich.console import Console

import accelsim
from accelsim.report.compare import compare_json, compare_rows, compare_table

# Mixtral's architecture (workloads/mixtral_8x7b.yaml) made small: 2 layers, hidden 64, 8 heads of 8 with 2 KV heads,
# 8 experts of intermediate 128 (top 2), a 1000-token vocabulary; expert_parallel 8 on dgx-h100's 8 chips
MOE = {"base": "mixtral_8x7b", "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 8,
       "num_key_value_heads": 2, "num_hidden_layers": 2, "vocab_size": 1000, "seq_len": 16, "kv_len": 16,
       "attention": "fused", "expert_parallel": 8}


def _decode(tp: int, total_j: float) -> dict:
    """A decode step's report.json as the energy model writes it: energy and power.chips one chip's (the run
    summary's "one chip of 8"), its group's size in the workload params, the arch's 8 chips."""
    return {"name": f"tp{tp}", "workload": {"model": "llama2_70b", "params": {"tensor_parallel": tp}},
            "arch": {"name": "mi300x-8", "chips": 8}, "total_cycles": 1, "seconds": 1e-3,
            "energy": {"total_j": total_j}, "power": {"chips": 1},
            "efficiency": {"j_per_token": total_j * tp}}  # 1 token: batch 1, one decode step


def test_the_energy_of_every_working_chip_is_compared_like_with_like():
    # the probe's figures: TP 1, one chip, 23.5 J; TP 8, 7.11 J a chip, 8 x 7.11 = 56.88 J: 56.88 / 23.5 = 2.4204x
    reports = [("mi_dec_tp1", _decode(1, 23.5)), ("mi_dec_tp8", _decode(8, 7.11))]
    rows = dict(compare_rows(reports))
    assert rows["energy.total_j"] == [23.5, 7.11]  # one chip's each, as before (0.30x)
    assert rows["working_chips"] == [1, 8]
    assert rows["working_energy_j"] == [pytest.approx(23.5), pytest.approx(56.88)]
    assert compare_json(reports)["ratios"]["working_energy_j"]["mi_dec_tp8"] == pytest.approx(56.88 / 23.5)
    # the row agrees with the table's J/token (every chip) row, here one token
    assert rows["working_energy_j"] == rows["efficiency.j_per_token"]
    console = Console(record=True, width=200)
    console.print(compare_table(reports))
    line = next(x for x in console.export_text().splitlines() if "energy (every working chip)" in x)
    assert "2.42×" in line


def test_working_energy_of_real_runs_is_the_groups_chips():
    # a small GPT decode step on dgx-h100 (8 chips) at TP 1 and TP 2: report.json covers one chip (power.chips 1),
    # so the working energy is total_j x 2 at TP 2, and equals j_per_token x tokens (batch 1 x 1 decode step)
    runs = []
    for tp in (1, 2):
        rep = accelsim.simulate({"model": "gpt", "layers": 2, "hidden": 256, "heads": 4, "seq_len": 128,
                                 "phase": "decode", "kv_len": 64, "tensor_parallel": tp}, "dgx-h100").to_dict()
        assert rep["power"]["chips"] == 1
        runs.append((f"tp{tp}", rep))
    rows = dict(compare_rows(runs))
    assert rows["working_chips"] == [1, 2]
    for (_, rep), value in zip(runs, rows["working_energy_j"], strict=True):
        tp = rep["workload"]["params"]["tensor_parallel"]
        assert value == pytest.approx(rep["energy"]["total_j"] * tp)
        assert value == pytest.approx(rep["efficiency"]["j_per_token"])


def test_no_working_energy_without_energy_figures():
    rep = _decode(1, 1.0)
    rep["energy"] = None
    rows = dict(compare_rows([("a", rep)]))
    assert rows["working_energy_j"] == [None] and rows["working_chips"] == [None]


def test_an_expert_parallel_run_reports_params_per_chip():
    # a 2-layer Mixtral-like MoE (hidden 64, 8 experts of 3·64·128 weights, top 2) at EP 8 on dgx-h100: a chip holds
    # the attention (q, o 64² each; k, v 64·16 each with 2 of 8 KV heads: 10,240), one expert (24,576), the router
    # (8·64 = 512) and the 2 norms (128) a layer, 35,456 x 2 = 70,912, plus embedding and lm_head 2·1000·64 = 128,000
    # and the final norm 64: 198,976 (the probe's Mixtral EP 8 by the same sum: 7,242,780,672)
    rep = accelsim.simulate(MOE, "dgx-h100").to_dict()
    info = accelsim.load_workload(MOE)
    assert info.params["expert_parallel"] == 8
    assert rep["params_per_chip"] == 2 * (2 * 64 * 64 + 2 * 64 * 16 + 3 * 64 * 128 + 8 * 64 + 2 * 64) \
        + 2 * 1000 * 64 + 64
    assert rep["params"] > rep["params_per_chip"]  # the whole model: all 8 experts a layer
