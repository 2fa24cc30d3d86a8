"""Probe p95 #6: report.html's serving "tokens per second" row names expert-parallel ranks only for a run that has
some (workload.params.expert_parallel > 1), as the console's serving row does."""

from __future__ import annotations

from accelsim.report.html import _serving


def _report(params: dict) -> dict:
    # 2 decode steps of batch 4 in 2 ms: 4 × 2 / 0.002 = 4,000 tokens/s
    return {"serving": {"batch": 4, "decode_steps": 2, "ttft_s": 0.001, "tpot_s": 0.001, "tokens_per_s": 4000.0,
                        "prefill_cycles": 1000, "decode_cycles": 2000},
            "workload": {"params": params}}


def test_dense_model_has_no_expert_parallel_clause():
    for params in ({}, {"expert_parallel": 1}, {"expert_parallel": True}):
        html = _serving(_report(params))
        assert "(batch × decode steps / decode time)" in html
        assert "expert-parallel" not in html


def test_expert_parallel_run_keeps_the_clause():
    html = _serving(_report({"expert_parallel": 8}))
    assert "(batch × decode steps / decode time, × expert-parallel ranks, each with a batch of its own)" in html
