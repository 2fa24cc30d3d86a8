"""GPU serving energy against published measurements (docs/energy.md, "Published serving energy").

Source: the ML.ENERGY Leaderboard v3.0 (vLLM 0.11.1, December 2025), Llama 3.1 8B on one H100 SXM, as plotted in
"LLM Inference Energy: A Longitudinal Analysis" (ml-energy/blog @201bd12 docs/posts/llm-energy-over-time.md, the
figures docs/posts/assets/llm-energy-over-time/llama-energy-per-token-light.svg and llama-power-light.svg @b436eb5).
The points are read from the figures' SVG coordinates against their tick marks: energy per output token
J = (311.011 - y) / 49.4817 × 0.05 (ticks 0.00 at y 311.011, 0.05 per 49.4817 pt), average GPU power
W = (311.011 - y) / 35.0151 × 100; batch = max_num_seqs (the x axis, ticks 200 apart every 64.69 pt). The post's text
gives one of them: batch 64, 0.20 J (v2.0) → 0.12 J (v3.0) per token; the figure reads 0.2018 and 0.1186.

What differs from the simulated case: the measured requests are chat prompts (ShareGPT-like) of varying lengths under
continuous batching, "batch" being vLLM's cap on concurrent requests; the simulation is a static batch of 512-token
prompts decoding 512 tokens each (Llama 3 8B's shapes: Llama 3.1 8B changes only the RoPE scaling, no op).
"""

from __future__ import annotations

import pytest

import accelsim
from accelsim.config import load_workload

# batch (max_num_seqs) -> (J per output token, average GPU power in W), ML.ENERGY v3.0, Llama 3.1 8B, 1× H100 SXM
MLENERGY_V3_H100 = {16: (0.263, 513), 32: (0.165, 560), 64: (0.119, 610), 128: (0.095, 669), 256: (0.077, 691)}
# the like-for-like caps: vLLM keeps every slot busy and the static batch's token rate is within 25 % of vLLM's
LIKE_FOR_LIKE = (16, 32)
H100_IDLE_W = 69.5  # median of 10 public nvidia-smi listings of idle H100 SXM boards (docs/energy.md; arch/h100.yaml)


@pytest.fixture(scope="module")
def h100_runs():
    base = load_workload("llama3_8b")  # the preset's config fields (Llama 3 8B)
    out = {}
    for batch in MLENERGY_V3_H100:
        spec = {"model": base.model, **base.params, "batch": batch, "phase": "prefill", "seq_len": 512, "decode_steps": 512, "attention": "fused"}
        out[batch] = accelsim.simulate(spec, "h100").to_dict()
    return out


def test_h100_llama3_8b_token_rate_near_the_measured(h100_runs):
    # J/token = average power / token throughput: the throughput half is like-for-like at small caps, where vLLM
    # keeps every slot busy (tokens/s measured = W / (J/token): 513 / 0.263 = 1951, 560 / 0.165 = 3394)
    for batch in LIKE_FOR_LIKE:
        joules, watts = MLENERGY_V3_H100[batch]
        assert h100_runs[batch]["serving"]["tokens_per_s"] == pytest.approx(watts / joules, rel=0.25), batch


def test_h100_llama3_8b_average_power_near_the_measured(h100_runs):
    # arch/h100.yaml's activity_power_share (0.589) was chosen on the batch-16 row (513 W); the rows of batch 32 to
    # 256 (560-691 W, the GPU at its 700 W cap from 192 on) are the check: the model's power tracks them within 15 %
    # as its MACs per second grow 5x and its HBM rate stays ~2.2 TB/s, and stays above the board's idle power
    for batch, (_, watts) in MLENERGY_V3_H100.items():
        average = h100_runs[batch]["power"]["average_w"]
        assert H100_IDLE_W < average, batch
        assert average == pytest.approx(watts, rel=0.15), batch


def test_h100_llama3_8b_joules_per_token_within_20_percent_where_like_for_like(h100_runs):
    # J/token = W / (tokens/s): where the token rate is like-for-like (batch 16, 32), the aim holds
    for batch in LIKE_FOR_LIKE:
        joules, _ = MLENERGY_V3_H100[batch]
        assert h100_runs[batch]["efficiency"]["j_per_token"] == pytest.approx(joules, rel=0.20), batch


@pytest.mark.xfail(strict=True, reason="from batch 64 the static batch's token rate runs 27-51 % above vLLM's (its "
                                       "per-step CPU scheduling and sampling and the chat prompts' prefill chunks "
                                       "between decode steps are not simulated), so J/token is 16.6-22.8 % low "
                                       "(22.8 and 21.6 % at 128 and 256; 16.5-22.7 % before probe p237 #1 counted "
                                       "the prefill's token, 513 a sequence, not 512) with the power within 10 % (docs/energy.md, "
                                       "'Published serving energy')")
def test_h100_llama3_8b_joules_per_token_within_20_percent_at_large_batches(h100_runs):
    for batch in (64, 128, 256):
        joules, _ = MLENERGY_V3_H100[batch]
        assert h100_runs[batch]["efficiency"]["j_per_token"] == pytest.approx(joules, rel=0.20), batch


# The same rows against the serving engine (accelsim serve, continuous batching with chunked prefill) as the
# leaderboard ran them: experiments/serving/llama3_8b_h100_mlenergy.yaml (vLLM's OpenAI-server defaults on an H100,
# max_num_seqs = the batch, the Text Conversation task's published mean lengths: 634 prompt and 717 output tokens)
@pytest.fixture(scope="module")
def h100_served():
    from accelsim import api
    from accelsim.config.serving import load_serving

    return {batch: api.serve(load_serving("llama3_8b_h100_mlenergy", [f"engine.max_num_seqs={batch}"])).report
            for batch in MLENERGY_V3_H100}


def test_h100_served_token_rate_power_and_joules_near_the_measured(h100_served):
    # measured tokens/s = W / (J/token); the engine's token rate within 15 % at every batch, the average power
    # within 15 % (the share was chosen on the static batch-16 run above, not on these), J/token within 25 %
    for batch, (joules, watts) in MLENERGY_V3_H100.items():
        r = h100_served[batch]
        assert r["serving"]["output_tokens_per_s"] == pytest.approx(watts / joules, rel=0.15), batch
        assert r["power"]["average_w"] == pytest.approx(watts, rel=0.15), batch
        assert r["efficiency"]["j_per_output_token"] == pytest.approx(joules, rel=0.25), batch


def test_h100_served_joules_per_token_within_20_percent_at_every_batch(h100_served):
    # a strict xfail while the presets' share was 0.55, below its own rule's 0.589 (arch/h100.yaml): J/token was
    # 22.9 % low at 128; at 0.589 it is 3-20 % low (128: -19.6 %, the power -10.6 %; docs/energy.md)
    for batch, (joules, _) in MLENERGY_V3_H100.items():
        assert h100_served[batch]["efficiency"]["j_per_output_token"] == pytest.approx(joules, rel=0.20), batch


# A GPU no constant was chosen on: arch/b200.yaml is built from spec sheets and takes h100's activity share. The
# ML.ENERGY v3.0 post's case study (ml-energy/blog @2bfa158 docs/posts/ml-energy-leaderboard-v3.0.md, "Case study on
# Qwen 3 32B on 1x B200"): Text Conversation (634 prompt, 627 output tokens on average) 0.209 J/token at batch 128;
# Problem Solving (224 prompt, 7,035 output tokens) 0.312 J/token at batch 128.
QWEN3_32B_B200 = {"chat": ([], 0.209), "reasoning": (["workload.prompt_tokens.value=224",
                                                      "workload.output_tokens.value=7035", "engine.max_model_len=8192",
                                                      "workload.requests=384"], 0.312)}


@pytest.mark.parametrize("task", sorted(QWEN3_32B_B200))
def test_b200_qwen3_32b_joules_per_token_within_20_percent(task):
    from accelsim import api
    from accelsim.config.serving import load_serving

    overrides, joules = QWEN3_32B_B200[task]
    spec = load_serving("llama3_8b_h100_mlenergy", ["model={base: qwen3_32b, attention: fused}", "arch=b200",
                                                    "engine.max_num_seqs=128", "workload.output_tokens.value=627",
                                                    *overrides])
    report = api.serve(spec).report
    assert report["efficiency"]["j_per_output_token"] == pytest.approx(joules, rel=0.20)
