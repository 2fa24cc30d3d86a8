"""More Llama-shaped families (``hf``): GLM-4-0414, ERNIE 4.5 and its MoE, Seed-OSS, EXAONE 4.0, Apertus, Arcee
(AFM), dots.llm1 and HunYuan dense.

Each count is worked out by hand below from the published config's sizes (given inline) and the module tree of
transformers' modeling_glm4 / ernie4_5 / ernie4_5_moe / seed_oss / exaone4 / apertus / arcee / dots1 /
hunyuan_v1_dense, and checked against the published figures named beside them.
"""

from __future__ import annotations

from accelsim.builders import build_workload
from accelsim.ir import OpKind


def _hf(arch, **fields):
    params = {k: fields.pop(k) for k in ("seq_len", "layers", "phase", "kv_len") if k in fields}
    return build_workload("hf", {"config": {"architectures": [arch], **fields}, "dtype": "bf16",
                                 "seq_len": params.pop("seq_len", 8), **params})


def _attn(h, heads, kv, d, qkv_bias=False, o_bias=False):
    return h * (heads + 2 * kv) * d + heads * d * h + ((heads + 2 * kv) * d if qkv_bias else 0) + (h if o_bias else 0)


def test_glm4_0414_count_and_its_four_norms():
    h, ffn, vocab = 4096, 13696, 151552  # GLM-4-9B-0414: 32 heads, 2 KV heads of 128, q/k/v biases
    layer = 4 * h + _attn(h, 32, 2, 128, qkv_bias=True) + 3 * h * ffn
    g = _hf("Glm4ForCausalLM", rms_norm_eps=1e-5)
    assert g.meta["model_params"] == 2 * vocab * h + 40 * layer + h == 9_400_279_040  # Zhipu: 9.4 B
    g = _hf("Glm4ForCausalLM", seq_len=16, layers=1)
    names = [op.name.rsplit(".", 1)[-1] for op in g.ops if op.kind is OpKind.NORM and ".layers.0." in op.name]
    assert names == ["input_layernorm", "post_self_attn_layernorm", "post_attention_layernorm", "post_mlp_layernorm"]
    assert g["model.layers.0.mlp.gate_up_proj"].weights[0].shape == (2 * ffn, h)
    assert g["model.layers.0.self_attn.q_rope.rotary"].out_shape == (1, 32, 16, 64)  # half of each head


def test_ernie_4_5_counts():
    h, vocab = 1024, 103424  # ERNIE-4.5-0.3B: 16 heads, 2 KV heads of 128, tied
    layer = 2 * h + _attn(h, 16, 2, 128) + 3 * h * 3072
    assert _hf("Ernie4_5ForCausalLM").meta["model_params"] == vocab * h + 18 * layer + h == 360_748_032  # "0.36B"
    h, im = 2560, 1536  # ERNIE-4.5-21B-A3B: 64 experts, top 6, 2 shared, layer 0 dense
    attn = 2 * h + _attn(h, 20, 4, 128)
    moe = attn + h * 64 + 64 + 64 * 3 * h * im + 3 * h * 2 * im  # router, its correction bias (a parameter)
    total = vocab * h + (attn + 3 * h * 12288) + 27 * moe + h
    g = _hf("Ernie4_5_MoeForCausalLM")
    assert g.meta["model_params"] == total == 21_825_437_888 and round(total / 1e9) == 22  # Baidu: "21B"
    assert round(g.meta["moe"]["active_params"] / 1e9) == 3  # "3B activated"


def test_seed_oss_biases():
    g = _hf("SeedOssForCausalLM", hidden_size=256, num_attention_heads=4, num_key_value_heads=2, head_dim=64,
            num_hidden_layers=1, intermediate_size=512, vocab_size=1000)
    assert len(g["model.layers.0.self_attn.q_proj"].weights) == 2  # attention_bias: q, k, v
    assert len(g["model.layers.0.self_attn.o_proj"].weights) == 1  # attention_out_bias false
    h, ffn, vocab = 5120, 27648, 155136  # Seed-OSS-36B
    layer = 2 * h + _attn(h, 80, 8, 128, qkv_bias=True) + 3 * h * ffn
    big = _hf("SeedOssForCausalLM", hidden_size=h)
    assert big.meta["model_params"] == 2 * vocab * h + 64 * layer + h and round(big.meta["model_params"] / 1e9) == 36


def test_exaone4_post_norms_windows_and_nope():
    h, ffn = 5120, 27392  # EXAONE-4.0-32B: 40 heads, 8 KV heads of 128, "LLLG"
    layer = 2 * h + _attn(h, 40, 8, 128) + 2 * 128 + 3 * h * ffn
    fields = dict(hidden_size=h, intermediate_size=ffn, num_hidden_layers=64, num_attention_heads=40,
                  num_key_value_heads=8, head_dim=128, sliding_window_pattern="LLLG")
    g = _hf("Exaone4ForCausalLM", **fields)
    assert g.meta["model_params"] - 2 * 102400 * h == 64 * layer + h == 30_954_640_384  # LG AI: 30.95 B (no emb.)
    small = _hf("Exaone4ForCausalLM", **{**fields, "num_hidden_layers": 4}, phase="decode", kv_len=6000)
    names = {op.name for op in small.ops}
    assert "model.layers.0.input_layernorm" not in names  # post-norm only
    keys = [small[f"model.layers.{i}.self_attn.scores"].gemm.n for i in range(4)]
    assert keys == [4096, 4096, 4096, 6001]
    assert [f"model.layers.{i}.self_attn.q_rope" in names for i in range(4)] == [True, True, True, False]


def test_apertus_xielu_and_arcee_relu2():
    h, ffn = 4096, 21504  # Apertus-8B: 32 heads, 8 KV heads, QK-norm, an ungated xIELU MLP
    layer = 2 * h + _attn(h, 32, 8, 128) + 2 * 128 + 2 * h * ffn + 2  # + xIELU's alpha_p and alpha_n
    g = _hf("ApertusForCausalLM", intermediate_size=ffn, num_key_value_heads=8)
    assert g.meta["model_params"] == 2 * 131072 * h + 32 * layer + h == 8_053_338_176  # Swiss AI: 8.05 B
    one = _hf("ApertusForCausalLM", intermediate_size=ffn, num_key_value_heads=8, seq_len=4, layers=1)
    act = one["model.layers.0.mlp.act_fn"]
    assert act.fn == "xielu" and act.flops == 13 * 4 * ffn and [w.shape for w in act.weights] == [(1,), (1,)]
    assert "model.layers.0.attention_layernorm" in {op.name for op in one.ops}
    h, ffn = 2560, 18432  # AFM-4.5B: 20 heads, 4 KV heads of 128, ReLU²
    layer = 2 * h + _attn(h, 20, 4, 128) + 2 * h * ffn
    afm = _hf("ArceeForCausalLM", num_hidden_layers=36, num_attention_heads=20, num_key_value_heads=4, head_dim=128,
              vocab_size=128005)
    assert afm.meta["model_params"] == 2 * 128005 * h + 36 * layer + h == 4_619_189_760  # Arcee: 4.5 B


def test_dots1_count():
    h, im = 4096, 1408  # dots.llm1: 128 experts, top 6, 2 shared, QK-norm, layer 0 dense
    attn = 2 * h + _attn(h, 32, 32, 128) + 2 * 128
    moe = attn + h * 128 + 128 * 3 * h * im + 3 * h * 2 * im
    total = 2 * 152064 * h + (attn + 3 * h * 10944) + 61 * moe + h
    g = _hf("Dots1ForCausalLM", hidden_size=h, n_routed_experts=128, n_shared_experts=2, num_experts_per_tok=6,
            first_k_dense_replace=1, norm_topk_prob=True, sliding_window=None)
    assert g.meta["model_params"] == total and round(total / 1e9) == 143  # rednote: "142B" (142.77 B)
    assert round(g.meta["moe"]["active_params"] / 1e9) == 14  # "14B activated"


def test_hunyuan_count_and_qk_norm_names():
    h = 4096  # Hunyuan-7B: 32 heads, 8 KV heads of 128, tied
    layer = 2 * h + _attn(h, 32, 8, 128) + 2 * 128 + 3 * h * 14336
    g = _hf("HunYuanDenseV1ForCausalLM", head_dim=128, num_key_value_heads=8, intermediate_size=14336,
            vocab_size=128167, tie_word_embeddings=True, use_qk_norm=True, use_cla=False, use_rotary_pos_emb=True)
    assert g.meta["model_params"] == 128167 * h + 32 * layer + h == 7_504_568_320
    one = _hf("HunYuanDenseV1ForCausalLM", head_dim=128, num_hidden_layers=1)
    assert {"model.layers.0.self_attn.query_layernorm", "model.layers.0.self_attn.key_layernorm"} <= {
        op.name for op in one.ops}
