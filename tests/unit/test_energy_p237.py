"""Probe p237 #1: a run's J/token counts every output token, the prefill's first included, as ``accelsim serve``
counts them (docs/energy.md, ``efficiency.j_per_token``), so ``accelsim compare`` puts like beside like."""

from __future__ import annotations

import pytest

import accelsim
from accelsim.report.compare import compare_rows

# the probe's request: a 512-token prompt, 2 output tokens, on h100 as the serving engine builds the model
STEP = {"model": "llama2_7b", "batch": 1, "seq_len": 512, "attention": "fused", "fused_projections": True}


def test_a_run_with_a_prefill_divides_by_decode_steps_plus_one():
    # the prefill samples each sequence's first token, each decode step one more: batch 2 x (3 steps + 1) = 8
    # tokens (before: batch 2 x 3 steps = 6, the prefill's joules charged to the decode steps' tokens)
    rep = accelsim.simulate({"model": "gpt", "layers": 2, "hidden": 256, "heads": 4, "seq_len": 32, "max_positions": 64, "batch": 2,
                             "decode_steps": 3}, "h100", plots=False).to_dict()
    assert rep["serving"]["ttft_s"] is not None  # it ran a prefill
    assert rep["efficiency"]["j_per_token"] == pytest.approx(rep["energy"]["total_j"] / (2 * (3 + 1)), rel=1e-12)


def test_a_decode_only_run_divides_by_its_decode_steps():
    # phase decode: the first token came before the run (ttft_s null), so batch 2 x 3 steps = 6 tokens
    rep = accelsim.simulate({"model": "gpt", "layers": 2, "hidden": 256, "heads": 4, "seq_len": 32, "max_positions": 64, "batch": 2,
                             "phase": "decode", "kv_len": 32, "decode_steps": 3}, "h100", plots=False).to_dict()
    assert rep["serving"]["ttft_s"] is None
    assert rep["efficiency"]["j_per_token"] == pytest.approx(rep["energy"]["total_j"] / (2 * 3), rel=1e-12)


def test_compare_shows_a_served_request_and_the_same_run_at_one_j_per_token(tmp_path):
    import json

    from accelsim.cli import main

    # one request of 512 + 2 tokens served, against a prefill and 1 decode step run under CUDA graphs as the
    # engine runs it: the probe's serve 12.939 J / 2 tokens = 6.47 J, run 12.969 J / 2 = 6.48 J (was / 1 = 13 J,
    # compare 2.00x)
    assert main(["serve", "llama2_7b_h100", "--set", "workload.duration=null", "--set", "workload.requests=1",
                 "--set", "workload.shared_prefix=null", "--set", "workload.prompt_tokens=512", "--set",
                 "workload.output_tokens=2", "-o", str(tmp_path / "srv"), "--no-plots", "--quiet"]) == 0
    srv = json.loads((tmp_path / "srv" / "report.json").read_text())
    run = accelsim.simulate({**STEP, "decode_steps": 1}, "h100", execution="cuda_graph", plots=False).to_dict()
    assert run["efficiency"]["j_per_token"] == pytest.approx(run["energy"]["total_j"] / 2, rel=1e-12)
    # the two spend the same joules on the request (docs/serving.md: a served request's latency within 2 % of the
    # run's), so the one J/token row compares them at about 1.00x, not 2
    served, ran = dict(compare_rows([("srv", srv), ("run", run)]))["efficiency.j_per_token"]
    assert served == pytest.approx(ran, rel=0.02)
