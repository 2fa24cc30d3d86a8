"""DeepSeek-V2 / V3 (``hf``): multi-head latent attention, its two cache forms, the shared experts, parameter counts.

Every expected figure is worked out below from the configs' sizes (workloads/deepseek_v3.yaml, deepseek_v2_lite.yaml)
and the published structure (DeepSeek-V2 paper, arXiv:2405.04434, section 2.1 and appendix C; transformers'
DeepseekV3Attention and DeepseekV3MoE).
"""

from __future__ import annotations

import pytest

from accelsim import simulate
from accelsim.builders import build_workload
from accelsim.config import load_workload
from accelsim.errors import WorkloadError
from accelsim.ir import OpKind


def _attn(h: int, heads: int, q_rank: int, kv_rank: int = 512, nope: int = 128, rope: int = 64, v: int = 128) -> int:
    """One layer's MLA parameters: q_a_proj h·q_rank + q_a_layernorm q_rank + q_b_proj q_rank·heads·(nope + rope)
    (or one q_proj h·heads·(nope + rope)), kv_a_proj_with_mqa h·(kv_rank + rope), kv_a_layernorm kv_rank,
    kv_b_proj kv_rank·heads·(nope + v), o_proj heads·v·h."""
    q = h * q_rank + q_rank + q_rank * heads * (nope + rope) if q_rank else h * heads * (nope + rope)
    return q + h * (kv_rank + rope) + kv_rank + kv_rank * heads * (nope + v) + heads * v * h


def _total(h, vocab, layers, dense, heads, q_rank, ffn, moe_ffn, experts, shared) -> tuple[int, int]:
    """(total, one expert's) parameters: embeddings and untied head 2·vocab·h, final norm h; per layer MLA, two
    norms 2h and a SwiGLU MLP 3·h·ffn (the first ``dense`` layers) or the MoE: router h·E, E experts and the
    shared experts' one MLP of width shared·moe_ffn, each 3·h·width."""
    expert = 3 * h * moe_ffn
    moe = h * experts + experts * expert + 3 * h * shared * moe_ffn
    per = _attn(h, heads, q_rank) + 2 * h
    return 2 * vocab * h + h + dense * (per + 3 * h * ffn) + (layers - dense) * (per + moe), expert


V3, V3_EXPERT = _total(7168, 129280, 61, 3, 128, 1536, 18432, 2048, 256, 1)
LITE, LITE_EXPERT = _total(2048, 102400, 27, 1, 16, 0, 10944, 1408, 64, 2)


def _graph(name: str, **params):
    w = load_workload(name)
    return build_workload(w.model, {**w.params, **params})


def test_parameter_counts_are_the_published_totals():
    # DeepSeek-V3 report: 671 B total, 37 B activated per token (8 of 256 routed experts in 58 MoE layers);
    # DeepSeek-V2 paper: V2-Lite 15.7 B total
    assert V3 == 671_026_404_352 and round(V3 / 1e9) == 671
    active = V3 - 58 * (256 - 8) * V3_EXPERT
    assert round(active / 1e9) == 38 and active == 37_552_282_624  # 37.55 B, "37 B" in the report
    g = _graph("deepseek_v3", seq_len=1)
    assert g.meta["model_params"] == V3 and g.meta["moe"]["active_params"] == active
    assert LITE == 15_706_484_224 and round(LITE / 1e9, 1) == 15.7
    assert _graph("deepseek_v2_lite", seq_len=1).meta["model_params"] == LITE


@pytest.mark.parametrize(("mla", "per_token"), [
    ("latent", 512 + 64),  # the latent and the shared rotary key: one 576-wide entry per token for all heads
    ("heads", 16 * ((128 + 64) + 128)),  # transformers: every head's 192-wide key and 128-wide value
])
def test_the_cache_holds_the_latent_or_every_heads_keys_and_values(mla, per_token):
    # V2-Lite decode of batch 2 after 100 cached tokens: 27 layers × 2 sequences × 101 tokens × per_token × 2 B
    g = _graph("deepseek_v2_lite", phase="decode", kv_len=100, batch=2, mla=mla, dtype="bf16")
    assert g.meta["kv_cache_bytes"] == 27 * 2 * 101 * per_token * 2


def test_a_latent_decode_step_absorbs_the_up_projections():
    # batch 4, 1000 cached tokens, 16 heads: each head's 128-wide nope query × its 128×512 key up-projection,
    # multi-query attention over 1,001 latents (keys 576 wide, values the 512-wide latent), then each head's
    # 512×128 value up-projection
    g = _graph("deepseek_v2_lite", phase="decode", kv_len=1000, batch=4, layers=2, attention="fused")
    pre = "model.layers.0.self_attn"
    q_abs, v_abs, att = g[f"{pre}.q_absorb"], g[f"{pre}.v_absorb"], g[f"{pre}.attention"]
    assert (q_abs.gemm.m, q_abs.gemm.n, q_abs.gemm.k, q_abs.gemm.count) == (4, 512, 128, 16)
    assert (v_abs.gemm.m, v_abs.gemm.n, v_abs.gemm.k, v_abs.gemm.count) == (4, 128, 512, 16)
    assert (att.attrs["kv_heads"], att.attrs["heads"], att.attrs["head_dim"], att.attrs["kv_len"]) == (1, 16, 576, 1001)
    assert att.macs == 4 * 16 * 1001 * (576 + 512)
    # kv_b_proj is read by the two absorbed GEMMs, its key rows and its value rows: 512·16·(128 + 128) in all
    rows = [w.numel for op in (q_abs, v_abs) for w in op.weights]
    assert rows == [16 * 128 * 512, 16 * 128 * 512]
    assert f"{pre}.kv_b_proj" not in {op.name for op in g.ops}  # no up-projection of the cache


def test_a_prompt_up_projects_its_latents_in_either_form():
    # a prefill computes every head's keys and values from the latents (the cache form changes what is kept):
    # the same MACs, among them kv_b_proj's 512 × 16·256 per token
    latent = _graph("deepseek_v2_lite", seq_len=64, layers=2)
    heads = _graph("deepseek_v2_lite", seq_len=64, layers=2, mla="heads")
    assert latent.macs == heads.macs
    assert latent["model.layers.0.self_attn.kv_b_proj"].macs == 64 * 512 * 16 * 256
    assert latent.meta["kv_cache_bytes"] < heads.meta["kv_cache_bytes"]


def test_shared_experts_are_one_ungated_mlp_and_layers_before_first_k_dense_replace_are_dense():
    g = _graph("deepseek_v2_lite", seq_len=8, layers=2)
    names = {op.name for op in g.ops}
    assert "model.layers.0.mlp.down_proj" in names  # layer 0: dense (first_k_dense_replace 1)
    shared = g["model.layers.1.mlp.shared_experts.down_proj"]  # 2 shared experts of 1,408: one MLP of 2,816
    assert shared.gemm.k == 2 * 1408 and not any("shared_expert_gate" in n for n in names)


def test_tensor_parallelism_splits_the_heads_and_replicates_the_down_projections():
    g = _graph("deepseek_v2_lite", seq_len=8, layers=1, tensor_parallel=2)
    pre = "model.layers.0.self_attn"
    assert g[f"{pre}.q_proj"].gemm.n == 8 * 192 and g[f"{pre}.kv_a_proj_with_mqa"].gemm.n == 512 + 64
    assert g[f"{pre}.kv_b_proj"].gemm.n == 8 * 256 and g[f"{pre}.o_proj"].gemm.k == 8 * 128
    assert any(op.kind is OpKind.COLLECTIVE for op in g.ops)
    with pytest.raises(WorkloadError, match="tensor_parallel 3 must divide the heads"):
        _graph("deepseek_v2_lite", seq_len=8, layers=1, tensor_parallel=3)


def test_a_v2_config_without_its_sizes_is_refused_naming_the_field():
    w = load_workload("deepseek_v2_lite")
    params = {k: v for k, v in w.params.items() if k != "kv_lora_rank"}
    with pytest.raises(ValueError, match=r"kv_lora_rank: missing \(needed by DeepseekV2ForCausalLM\)"):
        build_workload("hf", params)


def test_an_unfused_latent_decode_runs_each_sequences_heads_as_rows_of_one_gemm():
    # DeepSeek's absorbed attention (deepseek-ai/DeepSeek-V3 inference/model.py, MLA.forward): scores =
    # einsum("bshc,btc->bsht", q, latents) and context = einsum("bsht,btc->bshc", p, latents), which torch runs as
    # one bmm per sequence with s·h rows: batch 4, 16 heads, 1 query, 1,001 latents of 576 (values the first 512):
    # scores (16 × 1001 × 576) and context (16 × 512 × 1001), 4 each; the same MACs as 64 one-row GEMMs per op
    g = _graph("deepseek_v2_lite", phase="decode", kv_len=1000, batch=4, layers=2)
    pre = "model.layers.0.self_attn"
    s, c = g[f"{pre}.scores"], g[f"{pre}.context"]
    assert (s.gemm.m, s.gemm.n, s.gemm.k, s.gemm.count) == (16, 1001, 576, 4)
    assert (c.gemm.m, c.gemm.n, c.gemm.k, c.gemm.count) == (16, 512, 1001, 4)
    assert s.macs == 4 * 16 * 1001 * 576 and c.macs == 4 * 16 * 1001 * 512
    assert s.out_shape == (4, 16, 1, 1001) and c.out_shape == (4, 16, 1, 512)
    # each GEMM reads its sequence's latents once through the L2: in 16 × 128 output tiles, ⌈1001 / 128⌉ = 8 a
    # sequence (the edge tile read whole), each reading the 16 queries and its 128 latents (144 × 576 × 2 B =
    # 165,888 B), plus the scores written (4 × 16 × 1001 × 2 B = 128,128 B): 32 × 165,888 + 128,128 = 5,436,544 B,
    # where one GEMM per head read the latents 16 times (over 16 × 4 × 1001 × 576 × 2 B = 73.8 MB)
    rep = simulate({"base": "deepseek_v2_lite", "phase": "decode", "kv_len": 1000, "batch": 4, "layers": 1},
                   "h100").to_dict()
    op = next(o for o in rep["ops"] if o["name"] == f"{pre}.scores")
    assert op["mapping"]["tile"] == [16, 128]
    assert op["bytes"]["l2"] == 4 * 8 * (16 + 128) * 576 * 2 + 4 * 16 * 1001 * 2 == 5_436_544


def test_a_latent_decode_simulates_and_keeps_the_latent_cache_in_hbm():
    rep = simulate({"base": "deepseek_v2_lite", "phase": "decode", "kv_len": 512, "batch": 8, "layers": 2,
                    "attention": "fused"}, "h100").to_dict()
    assert rep["seconds"] > 0 and rep["memory"]["hbm"]["kv_cache"] == 2 * 8 * 513 * 576 * 2


def test_a_fused_latent_decode_loads_each_latent_block_once():
    # FlashMLA multiplies the scores by the first 512 columns of the latent block it already holds for QKᵀ: one load
    # per block where a K/V pair takes two. Priced with and without that (the op's shared_kv attr): the CTAs' cache
    # traffic drops by one block per block visited and the kernel is no slower; the op's HBM bytes are one latent
    # cache read, 32 × 4,097 tokens × 576 × 2 B
    import dataclasses

    from accelsim.config import load_arch
    from accelsim.cost import attention

    arch = load_arch("h100")
    g = _graph("deepseek_v2_lite", phase="decode", kv_len=4096, batch=32, layers=1, attention="fused")
    op = g["model.layers.0.self_attn.attention"]
    assert op.attrs.get("shared_kv") is True
    pair = dataclasses.replace(op, attrs={k: v for k, v in op.attrs.items() if k != "shared_kv"})
    one, two = (attention.price(o, arch.core.systolic, arch) for o in (op, pair))
    block = one.details["block"][1]
    per_block = min(block, 4097) * 576 * 2  # a block's keys × the latent width × bf16
    kv_blocks = one.details["kv_blocks"]
    assert (attention.cache_bytes(pair, two.details) - attention.cache_bytes(op, one.details)
            == kv_blocks * per_block) and two.details["kv_blocks"] == kv_blocks
    assert one.cycles <= two.cycles
    rep = simulate({"base": "deepseek_v2_lite", "phase": "decode", "kv_len": 4096, "batch": 32, "layers": 1,
                    "attention": "fused"}, "h100").to_dict()
    att = next(o for o in rep["ops"] if o["name"] == "model.layers.0.self_attn.attention")
    assert att["bytes"]["hbm"] >= 32 * 4097 * 576 * 2 > 0.9 * att["bytes"]["hbm"]
