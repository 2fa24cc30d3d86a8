"""LLM serving end to end: prefill + decode steps on tpu-v4, serving metrics, roofline position, host spill."""

from __future__ import annotations

import pytest

from accelsim import simulate
from accelsim.api import decode_samples
from accelsim.config import load_arch, load_workload
from accelsim.errors import ConfigError, MappingError
from accelsim.report.console import _serving_rows
from accelsim.scenarios.sampling import interpolation_weights


@pytest.fixture(scope="module")
def served():
    # LLaMA-2-7B, batch 1: a 256-token prompt, then 3 decode steps (all simulated)
    wl = load_workload("llama2_7b", ["seq_len=256", "decode_steps=3"])
    return simulate(wl, "tpu-v4").to_dict()


def test_serving_metrics_follow_from_the_simulated_cycles(served):
    s, clock = served["serving"], served["clock_hz"]
    assert s["decode_steps"] == 3 and s["decode_steps_simulated"] == [0, 1, 2]
    assert s["ttft_s"] == pytest.approx(s["prefill_cycles"] / clock)
    assert s["tpot_s"] == pytest.approx(sum(s["step_cycles"]) / 3 / clock)
    assert s["tokens_per_s"] == pytest.approx(1 * 3 / (sum(s["step_cycles"]) / clock))
    assert served["total_cycles"] == s["prefill_cycles"] + s["decode_cycles"]


def test_decode_steps_get_slower_as_the_kv_cache_grows(served):
    steps = served["serving"]["step_cycles"]
    assert steps == sorted(steps)  # one more token each step never makes a step faster
    # 1,792 more cached tokens: 32 layers × (K + V) × 4096 × 2 B × 1792 = 939,524,096 more bytes to read
    short = simulate(load_workload("llama2_7b", ["phase=decode", "kv_len=256"]), "tpu-v4").to_dict()
    long = simulate(load_workload("llama2_7b", ["phase=decode", "kv_len=2048"]), "tpu-v4").to_dict()
    assert long["bytes"]["hbm"] - short["bytes"]["hbm"] >= 32 * 2 * 4096 * 2 * 1792
    assert long["total_cycles"] > short["total_cycles"]


def test_batch1_decode_is_memory_bound_and_long_prefill_compute_bound(served):
    arch = load_arch("tpu-v4")
    # every weight is read each step (published LLaMA-2-7B params, bf16), except the 32000×4096 token-embedding
    # table, from which a step gathers one row per sequence
    streamed = (6_738_415_616 - 32_000 * 4096) * 2
    decode = [op for op in served["ops"] if op.get("phase") == "decode"]
    # a decode op's row holds the work of the 3 steps; with layer samples (the default) the rows of layer 0 stand
    # for 31 of the 32 layers, so theirs of 3 × 31
    assert {op["count"] for op in decode if ".layers.0." not in op["name"]} == {3}
    assert {op["count"] for op in decode if ".layers.0." in op["name"]} == {3 * 31}
    assert sum(op["bytes"].get("hbm", 0) for op in decode) >= 3 * streamed
    linears = [op for op in decode if op["kind"] == "linear"]
    assert linears and all(op["bound"] == "memory" for op in linears)
    # a 2048-token prefill with fused attention: its MACs take longer at peak than its HBM bytes at full
    # bandwidth (unfused, the 2048² score matrices of 32 heads × 32 layers go through HBM)
    pre = simulate(load_workload("llama2_7b", ["seq_len=2048", "attention=fused"]), arch).to_dict()
    compute_s = pre["macs"] / arch.peak_macs_per_cycle / arch.clock_hz
    memory_s = pre["bytes"]["hbm"] / arch.hbm.bandwidth
    assert compute_s > memory_s
    assert all(op["bound"] == "compute" for op in pre["ops"] if op["kind"] == "linear")


def test_interpolated_steps_match_simulated_ones():
    # 3 steps with 2 simulated (0 and 2): step 1 is their mean; against simulating step 1 the error is tiny
    # because a decode step's time is affine in the KV length (only attention grows)
    wl = load_workload("llama2_7b", ["phase=decode", "kv_len=1024", "decode_steps=3"])
    sampled_rep = simulate(wl, "tpu-v4", decode_samples=2).to_dict()
    exact_rep = simulate(wl, "tpu-v4", decode_samples=0).to_dict()
    sampled, exact = sampled_rep["serving"], exact_rep["serving"]
    assert sampled["decode_steps_simulated"] == [0, 2]
    assert sampled["step_cycles"][0] == exact["step_cycles"][0]
    assert sampled["step_cycles"][1] == pytest.approx(exact["step_cycles"][1], rel=1e-3)
    # MACs and FLOPs are affine in the KV length (attention's QKᵀ and PV grow by one column a token), so the mean
    # of steps 0 and 2 is step 1's exactly: the interpolated run counts the same work as the simulated one
    assert sampled_rep["macs"] == exact_rep["macs"] and sampled_rep["flops"] == exact_rep["flops"]
    # each simulated step runs as its 1- and 2-layer samples (options.layer_samples)
    assert sampled_rep["simulation"]["passes"] == 2 * 2 and exact_rep["simulation"]["passes"] == 3 * 2
    # phase: decode has no prefill: no time to first token (the first token came before the run), while TPOT is
    # the mean step, as with a prefill
    assert exact["prefill_cycles"] == 0 and exact["ttft_s"] is None
    assert exact["tpot_s"] == pytest.approx(sum(exact["step_cycles"]) / 3 / exact_rep["clock_hz"])
    (row,) = _serving_rows(exact_rep)
    assert row[1].startswith("TTFT none (no prefill), TPOT ")


def test_interpolation_weights_by_hand():
    # steps 0..4 with 0, 2 and 4 simulated: 1 = ½·s0 + ½·s2, 3 = ½·s2 + ½·s4
    w = interpolation_weights(5, [0, 2, 4])
    assert w == [[(0, 1.0)], [(0, 0.5), (1, 0.5)], [(1, 1.0)], [(1, 0.5), (2, 0.5)], [(2, 1.0)]]
    assert decode_samples(128, 8) == [0, 18, 36, 54, 73, 91, 109, 127]
    assert decode_samples(5, 8) == [0, 1, 2, 3, 4] and decode_samples(5, 0) == [0, 1, 2, 3, 4]


def test_weights_beyond_hbm_stream_from_host_or_fail_with_the_bytes():
    wl = load_workload("llama2_7b", ["phase=decode", "kv_len=128"])
    small = load_arch("tpu-v4", ["hbm.capacity=8GiB"])
    rep = simulate(wl, small).to_dict()
    assert rep["memory"]["host"]["weights"] > 0  # what does not fit 8 GiB lives in host memory
    # and crosses the link every step, except the token-embedding table (the coldest bytes, so placed in host
    # memory first), from which a step gathers one row
    assert rep["bytes"]["host"] >= rep["memory"]["host"]["weights"] - 32_000 * 4096 * 2
    assert rep["stalls_by_level"]["host"] > 0
    assert any("live in host memory" in note for note in rep["notes"])  # and the report says so
    with pytest.raises(MappingError, match=r"need \d+ B but hbm \(8589934592 B\) and host"):
        simulate(wl, load_arch("tpu-v4", ["hbm.capacity=8GiB", "host.capacity=1GiB"]))


def test_fused_attention_moves_fewer_hbm_bytes_for_bert_at_512_tokens():
    un = simulate(load_workload("bert_base", ["seq_len=512", "batch=8"]), "tpu-v4").to_dict()
    fu = simulate(load_workload("bert_base", ["seq_len=512", "batch=8", "attention=fused"]), "tpu-v4").to_dict()
    assert un["macs"] == fu["macs"]
    assert fu["bytes"]["hbm"] < un["bytes"]["hbm"]
    assert fu["total_cycles"] < un["total_cycles"]


def test_passes_keep_their_tasks_only_for_a_trace(tmp_path):
    # memory: a serving run keeps each pass's task graph and trace only when a Chrome trace is asked for
    wl = load_workload("llama2_7b", ["seq_len=16", "decode_steps=2"])
    plain = simulate(wl, "tpu-v4")
    assert plain.segments == []
    traced = simulate(wl, "tpu-v4", trace=True)
    s = traced["serving"]
    # the prefill, then decode step 1 after it, then step 2 after step 1: one timeline, each pass named
    assert [off for _, _, off, _ in traced.segments] == [0, s["prefill_cycles"],
                                                         s["prefill_cycles"] + s["step_cycles"][0]]
    assert [label for *_, label in traced.segments] == ["prefill", "decode step 1", "decode step 2"]
    assert traced["total_cycles"] == plain["total_cycles"]  # keeping them changes no number
    traced.save(tmp_path, plots=False, trace=True)
    assert (tmp_path / "trace.json").stat().st_size > 0
    with pytest.raises(ConfigError, match="no task trace .* only when simulated with trace=True"):
        plain.save(tmp_path / "plain", plots=False, trace=True)
