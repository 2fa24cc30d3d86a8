"""Model FLOPs utilization of a training step (report.json ``model_flops`` and ``mfu``) against hand counts:
the model's FLOPs are forward + backward (2 × forward) without the recomputed forward ops, while
``mac_utilization`` counts every MAC the arrays ran (hardware FLOPs utilization)."""

from __future__ import annotations

from pathlib import Path

import pytest

from accelsim import api

SELENE = Path(__file__).resolve().parents[2] / "experiments" / "gpt3_175b_training_selene.yaml"

# a small GPT (builders.transformer.gpt): per sequence, a layer's forward MACs are QKV 3sh² + output projection sh²
# + MLP 2 · s · h · 4h = 8sh² + QKᵀ and PV s²h each (the full score matrix, DESIGN.md's convention), the LM head's
# s·h·V; embeddings, norms and the loss do no MACs
B, S, H, N, V = 2, 128, 256, 4, 512
LAYER = 12 * S * H * H + 2 * S * S * H
FORWARD = B * (N * LAYER + S * H * V)
MODEL = 3 * FORWARD  # forward + backward (data and weight gradients: 2 × forward)


def _step(**extra) -> dict:
    wl = {"model": "gpt", "hidden": H, "heads": 4, "layers": N, "seq_len": S, "vocab": V, "batch": B,
          "mode": "training", **extra}
    return api.simulate(wl, "h100", plots=False).to_dict()


def test_full_recompute_mfu_is_hfu_times_model_over_ran_work():
    r = _step(attention="unfused", recompute="full")
    # full recomputation re-runs every layer's forward before its backward: the arrays run 4 layer-forwards where
    # the model has 3 (forward, and backward worth two); the head is never recomputed
    ran = MODEL + B * N * LAYER
    assert r["macs"] == ran
    assert r["model_flops"] == 2 * MODEL
    # both divide by the same peak (bf16 on an H100, the run's dtype) and time, so MFU / HFU = model / ran work,
    # 3/4 for the layers: (3 · 4 · LAYER + 3 · S·H·V) / (4 · 4 · LAYER + 3 · S·H·V) here
    assert r["mfu"] == pytest.approx(r["mac_utilization"] * MODEL / ran, rel=1e-9)
    assert r["mfu"] == pytest.approx(r["model_flops"] / (r["roofline"]["peak_flops_per_s"] * r["seconds"]), rel=1e-9)
    assert r["roofline"]["peak_flops_per_s"] == pytest.approx(989.4e12, rel=1e-3)  # H100 SXM bf16 dense


def test_fused_attention_backward_score_recompute_is_not_model_work():
    r = _step(attention="fused")
    # FlashAttention-2's backward recomputes S = QKᵀ (s²h MACs a layer and sequence) besides its four gradient
    # matmuls: the arrays run it, the model's backward does not count it
    assert r["macs"] == MODEL + B * N * S * S * H
    assert r["model_flops"] == 2 * MODEL


def test_inference_has_no_mfu():
    r = api.simulate({"model": "gpt", "hidden": H, "heads": 4, "layers": 1, "seq_len": S, "vocab": V}, "h100",
                     plots=False).to_dict()
    assert "mfu" not in r and "model_flops" not in r


def test_gpt3_175b_selene_mfu_is_megatrons_model_flops():
    r = _selene()
    # Megatron-LM's model FLOPs of an iteration (Narayanan et al. 2021, eq. 3): 72·B·s·l·h²·(1 + s/6h + V/12lh),
    # B = 64 sequences of s = 2048, l = 96 layers, h = 12288, V = 51200 (GPT-2's vocabulary padded); the report
    # covers one tensor-parallel rank's pipeline (8 of the 64 GPUs), 1/8 of them
    b, s, layers, h, v = 64, 2048, 96, 12288, 51200
    megatron = 72 * b * s * layers * h * h * (1 + s / (6 * h) + v / (12 * layers * h))
    assert r["model_flops"] * 8 == pytest.approx(megatron, rel=1e-9)
    assert r["mfu"] == pytest.approx(megatron / (64 * r["roofline"]["peak_flops_per_s"] * r["seconds"]), rel=1e-9)
    # full recomputation: the ran work is 4/3 of the layers' model work (the head's 6BshV is not recomputed)
    assert r["mac_utilization"] / r["mfu"] == pytest.approx(
        (4 * layers * 24 * h * h * (1 + s / (6 * h)) + 6 * h * v) / (3 * layers * 24 * h * h * (1 + s / (6 * h)) + 6 * h * v),
        rel=1e-6)


def _selene() -> dict:
    from accelsim import config

    spec = config.load_experiment(SELENE)
    return api.simulate(spec.workload, spec.arch, options=spec.options, plots=False).to_dict()


@pytest.mark.parametrize("cp, comm", [(1, "p2p"), (2, "p2p"), (4, "p2p"), (4, "all_gather"), (4, "a2a")])
def test_model_flops_do_not_depend_on_how_the_sequence_is_split(cp, comm):
    # probe p37 finding 1. The model's FLOPs of one replica (Megatron-LM's 72·B·s·l·h²·(1 + s/6h + V/12lh)
    # = 2 · MODEL: 72BslH² + 12Bs²lH + 6BsHV) are split over the C context-parallel chips, each report one chip's:
    # model_flops × C is the same at every C. A causal split's attention ops hold fewer (query, key) pairs than the
    # unsplit op's full s² (ring at C = 2: step 0 (s/2)² + step 1 (s/4)·(s/2) = 3/8 s² a chip, 3/4 s² over both),
    # but the chunk pairs above the diagonal it leaves out count as the unsplit op's masked half does
    r = api.simulate({"model": "gpt", "hidden": H, "heads": 4, "layers": N, "seq_len": S, "vocab": V, "batch": B,
                      "mode": "training", "attention": "fused", "context_parallel": cp,
                      "context_parallel_comm": comm}, "dgx-h100", plots=False).to_dict()
    megatron = 72 * B * S * N * H * H * (1 + S / (6 * H) + V / (12 * N * H))
    assert 2 * MODEL == pytest.approx(megatron, rel=1e-12)
    assert r["model_flops"] * cp == 2 * MODEL
    assert r["mfu"] == pytest.approx(r["model_flops"] / (r["roofline"]["peak_flops_per_s"] * r["seconds"]), rel=1e-9)


def test_a_replicated_head_counts_once_over_the_tensor_parallel_chips():
    # probe p138 #1: GPT-2 replicates its tied LM head under tensor parallelism (every chip runs it whole), and the
    # TP 2 report counted it on both chips: model FLOPs a chip (F − head)/2 + head, not F/2. By hand, GPT-2 small
    # (h 768, l 12, V 50257) over one sequence of s = 128 tokens: a layer's forward MACs are c_attn 3sh² + c_proj sh²
    # + the MLP's 8sh² + QKᵀ and PV s²h each (unfused attention, the full s²), the head s·h·V; a training step's
    # model MACs are 3 × forward (the backward's data and weight gradients are 2 × forward; the token embedding's
    # look-up has no MACs). At TP 2 one chip's share is half of that, the head included (Megatron's 6ND per chip)
    s, h, layers, vocab = 128, 768, 12, 50257
    forward = layers * (12 * s * h * h + 2 * s * s * h) + s * h * vocab
    wl = {"model": "gpt2", "batch": 1, "seq_len": s, "mode": "training", "attention": "unfused"}
    one = api.simulate(wl, "h100", plots=False).to_dict()
    two = api.simulate({**wl, "tensor_parallel": 2}, "dgx-h100", plots=False).to_dict()
    assert one["model_flops"] == 2 * 3 * forward
    assert two["model_flops"] == 3 * forward  # 2 × 3 × forward / 2 chips
    head = {op["name"]: op for op in two["ops"] if op["name"].startswith("lm_head")}
    assert {op["macs"] for op in head.values()} == {s * h * vocab}  # run whole on the chip ...
    assert {op["model_share"] for op in head.values()} == {0.5}  # ... and counted as half of the model's head
    assert two["mfu"] == pytest.approx(two["model_flops"] / (two["roofline"]["peak_flops_per_s"] * two["seconds"]),
                                       rel=1e-9)


def test_tensor_parallel_builders_mark_every_op_they_do_not_shard():
    # the builders' marks (attrs tp_replicas, TransformerBuilder.replicated) against the shards themselves: at TP 2
    # an op with MACs either holds half of them (sharded) or all of them (run whole on every chip: then marked 2)
    from accelsim.builders.registry import BUILDERS

    for name in ("bert_base", "gpt2", "vit_b_16", "transformer_base", "clip_vit_b32", "whisper_base", "dit_xl_2",
                 "flux1_schnell", "t5_small", "llama2_7b"):
        entry = BUILDERS[name]
        batch = {"batch": 1} if "batch" in entry.params.model_fields else {}
        one, two = (entry.fn(entry.params.model_validate({"tensor_parallel": t, **batch})) for t in (1, 2))
        macs = {op.name: op.macs for op in one.ops}
        for op in two.ops:
            if op.macs and op.name in macs:
                assert (op.macs == macs[op.name]) == (op.attrs.get("tp_replicas") == 2), (name, op.name)


def _hf_step(name: str, tp: int, **extra):
    """A training step's graph of hf preset ``name`` at tensor_parallel ``tp`` (64 tokens, bf16)."""
    from accelsim.builders.build import build_workload
    from accelsim.config import load_workload

    w = load_workload(name)
    return build_workload(w.model, {**w.params, "mode": "training", "seq_len": 64, "dtype": "bf16", **extra,
                                    "tensor_parallel": tp})


# hf presets cut to a few layers, each with the tensor-parallel degrees it allows: DeepSeek-V3's MLA
# down-projections (q_a_proj, kv_a_proj_with_mqa; 4 layers: its first 3 are dense, the 4th MoE) and router,
# DeepSeek-V2-Lite's (no q_a_proj) with its shared experts, Gemma 3 1B's one KV head, SmolLM3's 4 KV heads at TP 8,
# Qwen1.5-MoE's router and shared_expert_gate (also under sequence and expert parallelism: token shards),
# Mixtral's and gpt-oss's routers, Phi-3's fused qkv_proj, GLM-4.1V's vision tower, Llama 3 (nothing replicated)
HF_TP = [
    ("deepseek_v3", {"num_hidden_layers": 4}, (2, 4, 8)),
    ("deepseek_v2_lite", {"num_hidden_layers": 2}, (2, 4, 8)),
    ("gemma3_1b", {"num_hidden_layers": 2}, (2, 4)),
    ("smollm3_3b", {"num_hidden_layers": 2}, (2, 8)),
    ("qwen1_5_moe_a2_7b", {"num_hidden_layers": 2}, (2, 4)),
    ("qwen1_5_moe_a2_7b", {"num_hidden_layers": 2, "expert_parallel": 2, "sequence_parallel": True}, (2, 4)),
    ("mixtral_8x7b", {"num_hidden_layers": 2}, (2, 8)),
    ("gpt_oss_20b", {"num_hidden_layers": 2, "layer_types": ["sliding_attention", "full_attention"],
                     "expert_weight_dtype": None}, (2, 8)),
    ("phi3_mini", {"num_hidden_layers": 2}, (2, 4)),
    ("glm4_1v_9b", {"text_config": {"num_hidden_layers": 2}}, (2, 4)),
    ("llama3_8b", {"num_hidden_layers": 2}, (2, 8)),
]


@pytest.mark.parametrize(("name", "extra", "tps"), HF_TP, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(HF_TP)])
def test_hf_tensor_parallel_counts_every_op_once_over_the_chips(name, extra, tps):
    # probe p143 #1: the hf builder ran DeepSeek's MLA down-projections, the MoE routers and gates, and the K/V
    # projections of fewer KV heads than chips whole on every chip, unmarked, so model FLOPs × TP exceeded TP 1's
    # (DeepSeek-V2-Lite 1.0952 at TP 8, Gemma 3 1B 1.0436 at TP 4). The model counts each op once (Megatron's 6ND):
    # at TP t an op with MACs holds 1/t of its TP 1 MACs (split), or runs on tp_replicas of the t chips each, so
    # over the t chips macs_t · t / tp_replicas = macs_1, and model FLOPs × t equal TP 1's
    from accelsim.report.summary import model_share

    sequential = {k: v for k, v in extra.items() if k != "sequence_parallel"}  # needs more than one chip
    one = _hf_step(name, 1, **sequential)
    macs = {op.name: op.macs for op in one.ops}
    model = sum(op.macs * model_share(op) for op in one.ops)
    for t in tps:
        step = _hf_step(name, t, **extra)
        for op in step.ops:
            if op.macs and op.name in macs:
                assert op.macs * t == macs[op.name] * op.attrs.get("tp_replicas", 1), (t, op.name)
        assert sum(op.macs * model_share(op) for op in step.ops) * t == pytest.approx(model, rel=1e-12), t


def test_hf_replicated_ops_carry_their_copies():
    # the counts behind the invariant above, by hand. DeepSeek-V3 at TP 4 (q_lora_rank 1536, kv_lora_rank 512 +
    # qk_rope_head_dim 64, hidden 7168, 256 experts): every chip runs the down-projections and the router over all
    # 64 tokens, 4 copies of each; Gemma 3 1B's one KV head (head_dim 256, hidden 1152) runs whole on each of 2 or 4
    # chips; SmolLM3's 4 KV heads (head_dim 128, hidden 2048) over 8 chips: one a chip, each on 8 / 4 = 2 chips
    s = 64
    ops = {op.name: op for op in _hf_step("deepseek_v3", 4, num_hidden_layers=4).ops}
    attn, mlp = "model.layers.3.self_attn", "model.layers.3.mlp"
    for leaf, n in (("q_a_proj", 1536), ("kv_a_proj_with_mqa", 512 + 64)):
        assert (ops[f"{attn}.{leaf}"].macs, ops[f"{attn}.{leaf}"].attrs["tp_replicas"]) == (s * 7168 * n, 4)
    assert (ops[f"{mlp}.gate"].macs, ops[f"{mlp}.gate"].attrs["tp_replicas"]) == (s * 7168 * 256, 4)
    assert "tp_replicas" not in ops[f"{attn}.q_b_proj"].attrs  # split by heads
    for t in (2, 4):
        ops = {op.name: op for op in _hf_step("gemma3_1b", t, num_hidden_layers=2).ops}
        k = ops["model.layers.0.self_attn.k_proj"]
        assert (k.macs, k.attrs["tp_replicas"]) == (s * 1152 * 256, t)
    ops = {op.name: op for op in _hf_step("smollm3_3b", 8, num_hidden_layers=2).ops}
    v = ops["model.layers.0.self_attn.v_proj"]
    assert (v.macs, v.attrs["tp_replicas"]) == (s * 2048 * 128, 2)


def test_fused_qkv_of_fewer_kv_heads_than_chips_counts_its_split_and_its_copies():
    # a multi-query Falcon (8 query heads of 64, 1 KV head; one fused query_key_value) at TP 2: a chip runs 4 query
    # heads and the KV head's key and value, 6 of the whole projection's 10 heads; over the 2 chips 12 heads' work
    # for the model's 10, so tp_replicas = 2 · 6 / 10 = 1.2 and model FLOPs × 2 equal TP 1's
    from accelsim.builders.build import build_workload
    from accelsim.report.summary import model_share

    falcon = {"architectures": ["FalconForCausalLM"], "hidden_size": 512, "num_attention_heads": 8,
              "num_hidden_layers": 2, "vocab_size": 1024, "multi_query": True, "new_decoder_architecture": False,
              "mode": "training", "seq_len": 64, "dtype": "bf16"}
    one, two = (build_workload("hf", {**falcon, "tensor_parallel": t}) for t in (1, 2))
    qkv = next(op for op in two.ops if op.name == "transformer.h.0.self_attention.query_key_value")
    assert qkv.macs == 64 * 512 * 6 * 64
    assert qkv.attrs["tp_replicas"] == pytest.approx(1.2, rel=1e-15)
    assert 2 * sum(op.macs * model_share(op) for op in two.ops) == pytest.approx(
        sum(op.macs * model_share(op) for op in one.ops), rel=1e-12)
