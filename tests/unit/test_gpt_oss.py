"""GPT-OSS (``hf``): biased attention with sinks, alternating sliding and full attention, biased experts with one
gate_up_proj, parameter counts. Every expected figure is worked out below from the configs' sizes
(workloads/gpt_oss_20b.yaml, gpt_oss_120b.yaml) and transformers' GptOss modules."""

from __future__ import annotations

from accelsim.builders import build_workload
from accelsim.config import load_workload

H, HEADS, KV, D, FFN, VOCAB = 2880, 64, 8, 64, 2880, 201088
# per layer: q/k/v/o with biases, HEADS sinks, two RMSNorms; the router h·E + E; E experts of gate_up_proj
# h·2f + 2f and down_proj f·h + h
ATTN = H * HEADS * D + HEADS * D + 2 * (H * KV * D + KV * D) + HEADS * D * H + H + HEADS
EXPERT = H * 2 * FFN + 2 * FFN + FFN * H + H


def _total(layers: int, experts: int) -> int:
    """Embeddings and the untied head 2·vocab·h, the final norm h, and the layers."""
    return 2 * VOCAB * H + H + layers * (ATTN + 2 * H + H * experts + experts + experts * EXPERT)


def _graph(name: str, **params):
    w = load_workload(name)
    return build_workload(w.model, {**w.params, **params})


def test_parameter_counts_are_the_model_cards():
    # the model card: gpt-oss-20b 20.91 B total, 3.61 B active; gpt-oss-120b 116.83 B and 5.13 B, its active counts
    # leaving out the embedding table (vocab·h), 4 of the experts in every layer
    for name, layers, experts, total, active in (("gpt_oss_20b", 24, 32, 20.91, 3.61),
                                                 ("gpt_oss_120b", 36, 128, 116.83, 5.13)):
        n = _total(layers, experts)
        assert round(n / 1e9, 2) == total
        moe = _graph(name, seq_len=1, layers=None).meta
        assert moe["model_params"] == n
        used = n - layers * (experts - 4) * EXPERT
        assert moe["moe"]["active_params"] == used and round((used - VOCAB * H) / 1e9, 2) == active


def test_attention_sinks_and_alternating_windows():
    # a decode step after 1,000 tokens: even layers attend over the 128-token window, odd ones over all 1,001 keys;
    # every layer's 64 sinks are a parameter of its attention (32 per chip with the heads split over 2)
    g = _graph("gpt_oss_20b", phase="decode", kv_len=1000, layers=2, attention="fused")
    a0, a1 = g["model.layers.0.self_attn.attention"], g["model.layers.1.self_attn.attention"]
    assert (a0.attrs["kv_len"], a1.attrs["kv_len"]) == (128, 1001)
    assert [w.shape for w in a0.weights] == [(64,)] and a0.weights[0].name == "model.layers.0.self_attn.sinks"
    tp = _graph("gpt_oss_20b", seq_len=8, layers=1, tensor_parallel=2)
    assert [w.shape for w in tp["model.layers.0.self_attn.softmax"].weights] == [(32,)]


def test_experts_have_one_biased_gate_up_projection_and_the_router_a_bias():
    # 8 tokens, 32 experts, top-4, balanced: 32 assignments, one per expert
    g = _graph("gpt_oss_20b", seq_len=8, layers=1)
    names = {op.name for op in g.ops}
    up = next(op for op in g.ops if op.name.endswith(".gate_up_proj"))
    assert (up.gemm.n, up.gemm.k) == (2 * FFN, H) and sum(w.shape == (2 * FFN,) for w in up.weights) == up.gemm.count
    assert {w.name for w in g["model.layers.0.mlp.router"].weights} == {"model.layers.0.mlp.router.weight",
                                                                        "model.layers.0.mlp.router.bias"}
    assert not any(n.endswith(".gate_proj") or n.endswith(".up_proj") for n in names)


def test_a_training_step_reduces_every_experts_bias_once():
    # 64 tokens over 32 experts, top-4, balanced: 8 rows each, one grouped GEMM per projection; its 32 biases share
    # one grad_bias (a column sum over each expert's rows), and every bias gets its optimizer step (the experts in
    # bf16: a training step on the preset's MXFP4 experts is refused, fp4 training is not modelled)
    g = _graph("gpt_oss_20b", seq_len=64, layers=1, mode="training", expert_weight_dtype="bf16")
    up = next(op for op in g.ops if op.name.endswith(".gate_up_proj") and op.attrs.get("phase") == "forward")
    grad = g[f"{up.name}.grad_bias"]
    assert grad.out_shape == (32 * 2 * FFN,) and grad.vector_elems == 64 * 4 * 2 * FFN
    steps = {op.attrs["param"] for op in g.ops if op.kind.value == "optimizer"}
    assert {w.name for w in up.weights if w.name.endswith(".bias")} <= steps


def test_the_experts_are_stored_in_mxfp4_and_the_rest_in_the_compute_dtype():
    # the presets say what the published checkpoints store: the experts' weight matrices in 4 bits with a scale
    # per 32; their biases, attention, router, norms and embeddings at the compute dtype (bf16 here)
    from accelsim.ir import Weight
    from accelsim.units import packed_bytes

    g = _graph("gpt_oss_20b", seq_len=8, layers=1, dtype="bf16")
    expert_ops = [op for op in g.ops if "experts" in op.attrs]
    matrices = [w for op in expert_ops for w in op.weights if not w.name.endswith(".bias")]
    assert matrices and all(w.dtype == "fp4" and w.group_size == 32 for w in matrices)
    assert all(w.dtype is None for op in expert_ops for w in op.weights if w.name.endswith(".bias"))
    assert all(w.dtype is None for w in g["model.layers.0.self_attn.q_proj"].weights)
    experts: dict[str, Weight] = {w.name: w for w in matrices}
    rest = g.params - sum(w.numel for w in experts.values())
    assert g.weight_bytes == 2 * rest + sum(packed_bytes(w.numel, "fp4", 32) for w in experts.values())
    assert _graph("gpt_oss_20b", seq_len=8, layers=1, expert_weight_dtype=None, dtype="bf16").weight_bytes == 2 * g.params


def test_the_stored_weights_match_the_model_cards_checkpoint_sizes():
    # gpt-oss model card (OpenAI, arXiv 2508.10925) Table 1: checkpoint sizes 60.8 GiB (120b) and 12.8 GiB (20b),
    # the MoE weights in MXFP4 at 4.25 bits a parameter (4 bits and one 8-bit scale per 32), the rest in bf16
    for name, gib in (("gpt_oss_120b", 60.8), ("gpt_oss_20b", 12.8)):
        assert round(_graph(name, seq_len=8, dtype="bf16").weight_bytes / 2**30, 1) == gib
