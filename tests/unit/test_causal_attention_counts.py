"""Causal attention, priced as it runs: eager (unfused) attention masks every score before the softmax; a fused
causal kernel computes only the blocks on and below the diagonal, which ``computed_macs`` / ``computed_flops``
count; GPU runs say when unfused attention or kernel launches take a material share of the run."""

from __future__ import annotations

import pytest

import accelsim
from accelsim.builders import build_workload
from accelsim.report.summary import LAUNCH_NOTE_SHARE

# one head group large enough that its scores go through HBM on an H100 (8 heads x 4096 x 4096 x 2 B = 256 MiB,
# more than the 50 MiB L2)
SHAPE = {"batch": 1, "heads": 8, "kv_heads": 8, "q_len": 4096, "kv_len": 4096, "head_dim": 128}
SCORES_B = 1 * 8 * 4096 * 4096 * 2  # 268,435,456: fp16 scores
MASK_B = 1 * 1 * 4096 * 4096 * 2  # 33,554,432: one (batch, 1, q, kv) fp16 mask, broadcast over the heads


def _row(rep: dict, name: str) -> dict:
    (row,) = [r for r in rep["ops"] if r["name"] == name]
    return row


def test_unfused_causal_attention_masks_the_scores():
    # transformers' eager attention: attn_weights + causal_mask before the softmax: 1 add per score, reading the
    # scores and the mask and writing the scores
    g = build_workload("attention", {**SHAPE, "causal": True})
    assert [op.name for op in g.ops] == ["scores", "causal_mask", "softmax", "context"]
    mask = g.ops[1]
    assert mask.in_shapes == ((1, 8, 4096, 4096), (1, 1, 4096, 4096))
    assert mask.flops == 8 * 4096 * 4096
    causal = accelsim.simulate({"model": "attention", **SHAPE, "causal": True}, "h100").to_dict()
    full = accelsim.simulate({"model": "attention", **SHAPE, "causal": False}, "h100").to_dict()
    # scores read + written + the mask read: 2 x 268,435,456 + 33,554,432 = 570,425,344 B of HBM
    assert _row(causal, "causal_mask")["bytes"]["hbm"] == 2 * SCORES_B + MASK_B == 570_425_344
    assert "causal_mask" not in [r["name"] for r in full["ops"]]
    assert causal["seconds"] > full["seconds"]
    assert causal["flops"] == full["flops"] + 8 * 4096 * 4096


def test_a_one_token_step_has_nothing_to_mask():
    # a decode step's one query sees every cached key: no mask op, as in the non-causal graph
    step = {**SHAPE, "q_len": 1}
    assert [op.name for op in build_workload("attention", {**step, "causal": True}).ops] == \
        [op.name for op in build_workload("attention", {**step, "causal": False}).ops]


def test_llm_prefill_masks_each_layers_scores_with_one_shared_mask():
    g = build_workload("llama2_7b", {"seq_len": 64, "layers": 2})
    masks = [op for op in g.ops if op.fn == "causal_mask"]
    assert len(masks) == 2  # one per layer, the (1, 1, 64, 64) mask built once
    assert all(op.in_shapes == ((1, 32, 64, 64), (1, 1, 64, 64)) for op in masks)
    decode = build_workload("llama2_7b", {"phase": "decode", "kv_len": 64, "layers": 2})
    assert not [op for op in decode.ops if op.fn == "causal_mask"]


def test_fused_causal_counts_the_blocks_its_kernel_computes():
    # FlashAttention-3 on an H100, head dim 128, causal: 128 x 128 blocks. 512 queries and keys: 4 query tiles
    # visit 1 + 2 + 3 + 4 = 10 of the 4 x 4 = 16 blocks of each head
    shape = {**SHAPE, "heads": 2, "kv_heads": 2, "q_len": 512, "kv_len": 512, "attention": "fused", "dtype": "bf16"}
    rep = accelsim.simulate({"model": "attention", **shape, "causal": True}, "h100").to_dict()
    macs = 2 * 2 * 512 * 512 * 128  # QK^T and PV over every query x key: 134,217,728
    flops = 2 * macs + 5 * 2 * 512 * 512  # + the softmax's 5 FLOPs a score: 271,056,896
    assert (rep["macs"], rep["flops"]) == (macs, flops)  # the model's work, as accelsim info counts it
    assert rep["computed_macs"] == macs * 10 // 16 == 83_886_080
    assert rep["computed_flops"] == flops * 10 // 16 == 169_410_560
    assert rep["computed_flops"] / rep["seconds"] <= rep["arch"]["peak_flops_per_s"]
    assert any(n.startswith("causal attention: flops and macs count every query x key") and "169,410,560" in n
               for n in rep["notes"])
    full = accelsim.simulate({"model": "attention", **shape, "causal": False}, "h100").to_dict()
    assert (full["computed_macs"], full["computed_flops"]) == (macs, flops)
    assert not any(n.startswith("causal attention") for n in full["notes"])


def test_a_cnn_with_folded_batch_norms_gets_no_causal_attention_note():
    # a conv, a batch norm folded into it (unit none: its flops counted, none computed) and a ReLU on edge-npu:
    # computed_flops falls short of flops by the BN's flops, which no causal kernel skipped, so no causal note
    spec = {"model": "layers", "input": [1, 3, 8, 8], "layers": [
        {"type": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1}, {"type": "batchnorm2d"},
        {"type": "relu"}]}
    rep = accelsim.simulate(spec, "edge-npu").to_dict()
    bn = next(op for op in rep["ops"] if op["kind"] == "norm" or "batch" in op["name"])
    assert bn["unit"] == "none" and bn["flops"] > 0
    assert rep["computed_flops"] == rep["flops"] - bn["flops"]
    assert not any(n.startswith("causal attention") for n in rep["notes"])


def test_the_fused_repro_no_longer_reads_above_peak():
    # the probe's repro: 4 x 32 heads x 4096^2 causal on an H100 gave flops / seconds = 1158 TFLOP/s against a
    # 989.4 TFLOP/s bf16 peak; the computed FLOPs stay under it
    shape = {**SHAPE, "batch": 4, "heads": 32, "kv_heads": 32, "attention": "fused", "causal": True}
    rep = accelsim.simulate({"model": "attention", **shape}, "h100").to_dict()
    assert rep["flops"] / rep["seconds"] > rep["arch"]["peak_flops_per_s"]  # the model's count, not what ran
    assert rep["computed_flops"] / rep["seconds"] < rep["arch"]["peak_flops_per_s"]


def _share(rep: dict, names: tuple[str, ...]) -> float:
    """The unfused attention's share of the run, recomputed from report.json: the union of its ops' spans plus, of
    the host launch wait (launch_overhead_s less kernel_dispatch_s, the device dispatch already inside the spans;
    probe p96 #2), the share of the kernels (ops with a unit) that are its own; at most the whole run."""
    rows = [r for r in rep["ops"] if r["name"].rsplit(".", 1)[-1] in names]
    kernels = [r for r in rep["ops"] if r["unit"] != "none"]
    busy, end = 0, 0
    for a, b in sorted((r["start_cycle"], r["end_cycle"]) for r in rows):
        busy, end = busy + max(0, b - max(a, end)), max(end, b)
    wait = max(0.0, rep["launch_overhead_s"] - rep["kernel_dispatch_s"])
    launch = wait * sum(1 for r in rows if r["unit"] != "none") / len(kernels)
    return min(1.0, (busy / rep["clock_hz"] + launch) / rep["seconds"])


def test_llm_decode_on_a_gpu_notes_unfused_attention_and_launches():
    # the probe's llama2_7b decode step on an H100 (1,024 cached tokens, eager, unfused): no note before; its
    # 4 attention kernels a layer take about 13 % of the run, the launches half of it: scores, the fp32 softmax,
    # its cast back to the model's dtype (transformers' eager ``softmax(..., dtype=torch.float32).to(query.dtype)``;
    # probe p185 #2: 3 kernels, 96 ops, before) and context, and the scores' ``* scaling`` mul
    # (eager_attention_forward; probe p235 #3: 128 ops before), 5 × 32 layers = 160 ops
    run = {"model": "llama2_7b", "phase": "decode", "kv_len": 1024, "seq_len": 1}
    rep = accelsim.simulate(run, "h100", execution="eager").to_dict()  # (auto runs a decode step as a CUDA graph)
    share = _share(rep, ("scores", "scale", "softmax", "softmax_cast", "context"))
    (note,) = [n for n in rep["notes"] if n.startswith("attention runs unfused")]
    assert f"its 160 ops take about {share:.0%} of the run" in note and "--set workload.attention=fused" in note
    assert "score tensors" not in note  # 32 x 32 heads x 1 x 1025 scores stay in the L2
    assert rep["launch_bound_fraction"] >= LAUNCH_NOTE_SHARE
    (launch,) = [n for n in rep["notes"] if n.startswith("kernel launches bind")]
    assert f"{rep['launch_bound_fraction']:.0%} of the run" in launch and "options.execution=cuda_graph" in launch
    fused = accelsim.simulate({**run, "attention": "fused"}, "h100", execution="cuda_graph").to_dict()
    assert not any(n.startswith(("attention runs unfused", "kernel launches bind")) for n in fused["notes"])



def test_a_serving_runs_note_quotes_the_whole_runs_attention_share():
    # probe p17: gpt2 on an A100, a 128-token prompt and 4 decode steps quoted the prefill's own share (23 %) as
    # "of the run"; the note now gives the attention ops' share of the whole run's seconds, from its op rows
    run = {"model": "gpt2", "seq_len": 128, "decode_steps": 4}
    rep = accelsim.simulate(run, "a100").to_dict()
    # the prefill pass alone, as the run serves it: logits at each sequence's last position and the KV cache written
    # (a served gpt2 prefill since probe p247 #1; before, the forward pass, logits everywhere and no cache)
    prefill = accelsim.simulate({**run, "decode_steps": 0, "logits": "last"}, "a100").to_dict()
    assert prefill["seconds"] == pytest.approx(rep["serving"]["ttft_s"], rel=1e-12)
    launch = {"prefill": prefill["launch_overhead_s"],  # the decode steps' graph launches: the rest of the run's
              "decode": rep["launch_overhead_s"] - prefill["launch_overhead_s"]}
    # with GPT2Attention's eager division of the scores by √d, ``scale`` (probe p235 #3)
    names = {"prefill": ("scores", "scale", "causal_mask", "softmax", "context"),
             "decode": ("scores", "scale", "softmax", "context")}
    spans = launched = 0.0
    executions = 0
    for phase, ends in names.items():
        rows = [r for r in rep["ops"] if r["phase"] == phase]
        mine = [r for r in rows if r["name"].rsplit(".", 2)[-2:-1] == ["attn"] and r["name"].rsplit(".", 1)[-1] in ends]
        # each row stands for `count` executions (layers the sample stands for, times the decode steps)
        spans += sum(r["count"] * (r["end_cycle"] - r["start_cycle"]) for r in mine) / rep["clock_hz"]
        executions += sum(r["count"] for r in mine)
        kernels = sum(r["count"] for r in rows if r["unit"] != "none")
        launched += launch[phase] * sum(r["count"] for r in mine if r["unit"] != "none") / kernels
    # 12 layers x 5 ops in the prefill + 4 steps x 12 layers x 4 ops (no mask for one query) = 60 + 192
    # (48 + 144 = 192 before probe p235 #3's scale)
    assert executions == 12 * 5 + 4 * 12 * 4
    share = (spans + launched) / rep["seconds"]
    (note,) = [n for n in rep["notes"] if n.startswith("attention runs unfused")]
    assert f"its 252 op executions take about {share:.0%} of the run" in note
    (own,) = [n for n in prefill["notes"] if n.startswith("attention runs unfused")]
    assert f"about {share:.0%} of the run" not in own  # the prefill's own share differs


def test_the_unfused_attention_note_is_given_on_every_gpu_whatever_its_share():
    # probe p39 #7: llama3_8b's decode step at 512 cached tokens noted its unfused attention on an H100 (5.9 %) and
    # not on an A100 (4.5 %, under the 5 % threshold there was): the same advice now on both, each with its share
    run = {"base": "llama3_8b", "batch": 1, "dtype": "fp16", "phase": "decode", "kv_len": 512}
    for arch in ("a100", "h100"):
        rep = accelsim.simulate(run, arch).to_dict()
        share = _share(rep, ("k_repeat", "v_repeat", "scores", "scale", "softmax", "softmax_cast", "context"))
        # 32 layers x 7 ops (GQA's repeat_kv copies of K and V, probe p231 #1; scores, their ``* scaling``, probe
        # p235 #3; the fp32 softmax, its cast back to fp16, context: one query needs no mask; transformers' eager
        # softmax(..., dtype=torch.float32).to(query.dtype), probe p185 #2: 3 ops before)
        (note,) = [n for n in rep["notes"] if n.startswith("attention runs unfused")]
        assert f"its {32 * 7} ops take about {share:.0%} of the run" in note, (arch, note)
        fused = accelsim.simulate({**run, "attention": "fused"}, arch).to_dict()
        assert not any(n.startswith("attention runs unfused") for n in fused["notes"])
