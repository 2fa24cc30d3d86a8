"""The LayerNorm-era and Llama-shaped families (``hf``): GPT-NeoX / Pythia, Phi-2, Falcon, Command R / R7B,
StableLM, StarCoder2, Phi-3.5-MoE, Gemma, OLMo 2 / 3, OLMoE, Granite 3, SmolLM3 and MiniMax-M2.

Parameter counts are worked out by hand below from each family's module tree in transformers (modeling_gpt_neox,
modeling_phi, modeling_falcon, modeling_cohere / cohere2, modeling_stablelm, modeling_starcoder2, modeling_phimoe,
modeling_gemma, modeling_olmo2 / olmo3 / olmoe, modeling_granite / granitemoe, modeling_smollm3,
modeling_minimax_m2) and checked against the published figures named beside them.
"""

from __future__ import annotations

import pytest

from accelsim.builders import build_workload
from accelsim.builders.hf import HfParams
from accelsim.config import load_workload
from accelsim.ir import OpKind


def _hf(arch, **fields):
    params = {k: fields.pop(k) for k in ("seq_len", "layers", "phase", "kv_len", "tensor_parallel", "rope_kernel",
                                         "sequence_parallel") if k in fields}
    return build_workload("hf", {"config": {"architectures": [arch], **fields}, "dtype": "bf16",
                                 "seq_len": params.pop("seq_len", 8), **params})


def _preset(name, **params):
    w = load_workload(name)
    return build_workload(w.model, {**w.params, "dtype": "bf16", **params})


def _ln(h):  # a LayerNorm with weight and bias
    return 2 * h


# ---- GPT-NeoX / Pythia ---------------------------------------------------------------------------------------


def _neox(vocab, h, layers, ffn):
    layer = 2 * _ln(h) + (3 * h * h + 3 * h) + (h * h + h) + (h * ffn + ffn) + (ffn * h + h)
    return 2 * vocab * h + layers * layer + _ln(h)  # embed_in and the untied embed_out


def test_pythia_counts_are_the_pythia_table():
    # Biderman et al. 2023 (Pythia), table 1 / the model cards: 70,426,624 and 1,414,647,808 parameters
    for h, layers, heads, ffn, published in ((512, 6, 8, 2048, 70_426_624), (2048, 24, 16, 8192, 1_414_647_808)):
        g = _hf("GPTNeoXForCausalLM", vocab_size=50304, hidden_size=h, num_hidden_layers=layers,
                num_attention_heads=heads, intermediate_size=ffn)
        assert g.meta["model_params"] == _neox(50304, h, layers, ffn) == published


def test_gpt_neox_runs_attention_and_mlp_side_by_side_from_two_norms():
    g = _hf("GPTNeoXForCausalLM", vocab_size=50304, hidden_size=512, num_hidden_layers=2, num_attention_heads=8,
            intermediate_size=2048, seq_len=16)
    layer = "gpt_neox.layers.1"
    x = g[f"{layer}.input_layernorm"].inputs[0]  # the layer's input
    assert g[f"{layer}.post_attention_layernorm"].inputs == (x,)  # the MLP's norm reads x, not x + attention
    assert g[f"{layer}.mlp.dense_h_to_4h"].inputs == (f"{layer}.post_attention_layernorm",)
    assert g[f"{layer}.add_attn_mlp"].inputs == (f"{layer}.attention.dense", f"{layer}.mlp.dense_4h_to_h")
    assert g[f"{layer}.add_residual"].inputs == (x, f"{layer}.add_attn_mlp")
    # rotary_pct 0.25 of a 64-wide head: 16 features rotated on each of 8 heads
    assert g[f"{layer}.attention.q_rope.rotary"].out_shape == (1, 8, 16, 16)
    assert g[f"{layer}.attention.query_key_value"].out_shape == (1, 16, 3 * 512)
    assert g["embed_out"].weights[0].shape == (50304, 512)
    sequential = _hf("GPTNeoXForCausalLM", vocab_size=50304, hidden_size=512, num_hidden_layers=1,
                     num_attention_heads=8, intermediate_size=2048, use_parallel_residual=False)
    assert sequential["gpt_neox.layers.0.post_attention_layernorm"].inputs == ("gpt_neox.layers.0.add_attn",)


# ---- Phi-2 -----------------------------------------------------------------------------------------------------


def test_phi2_count_and_its_one_norm():
    h, ffn, vocab = 2560, 10240, 51200
    layer = _ln(h) + 4 * (h * h + h) + (h * ffn + ffn) + (ffn * h + h)  # one norm; biased q/k/v/dense; fc1, fc2
    total = vocab * h + 32 * layer + _ln(h) + (vocab * h + vocab)  # lm_head has a bias
    g = _preset("phi_2", seq_len=16, layers=2)
    assert _preset("phi_2", seq_len=8).meta["model_params"] == total == 2_779_683_840  # Microsoft: "2.7 billion"
    norm = "model.layers.1.input_layernorm"
    assert g["model.layers.1.self_attn.q_proj"].inputs == (norm,) and g["model.layers.1.mlp.fc1"].inputs == (norm,)
    assert [w.name for w in g["lm_head"].weights] == ["lm_head.weight", "lm_head.bias"]
    assert g["model.layers.1.self_attn.q_rope.rotary"].out_shape == (1, 32, 16, 32)  # 0.4 × 80 features
    qk = _hf("PhiForCausalLM", qk_layernorm=True, layers=1)
    assert [w.shape for w in qk["model.layers.0.self_attn.q_layernorm"].weights] == [(64,), (64,)]  # shared by heads


# ---- Falcon ------------------------------------------------------------------------------------------------------


def test_falcon_7b_and_40b_counts():
    h = 4544  # Falcon-7B: 71 query heads of 64, one KV head, a GELU MLP of 4h, tied head, no biases
    layer = _ln(h) + h * (h + 2 * 64) + h * h + 2 * h * 4 * h
    assert _hf("FalconForCausalLM").meta["model_params"] == 65024 * h + 32 * layer + _ln(h) == 6_921_720_704
    h = 8192  # Falcon-40B: 128 heads, 8 KV heads, ln_attn and ln_mlp
    layer = 2 * _ln(h) + h * (128 + 2 * 8) * 64 + h * h + 2 * h * 4 * h
    g = _hf("FalconForCausalLM", hidden_size=h, num_hidden_layers=60, num_attention_heads=128, num_kv_heads=8,
            new_decoder_architecture=True)
    total = 65024 * h + 60 * layer + _ln(h)
    assert g.meta["model_params"] == total and round(total / 1e9) == 41  # TII: "40B"


def test_falcon_reduces_its_two_branches_once_under_tensor_parallelism():
    # vLLM's FalconDecoderLayer: reduce_row_parallel_results off, one all-reduce of attention + MLP; GPT-NeoX two
    fal = _hf("FalconForCausalLM", hidden_size=1024, num_hidden_layers=1, num_attention_heads=16, num_kv_heads=4,
              new_decoder_architecture=True, tensor_parallel=4)
    assert [op.name for op in fal.ops if op.kind is OpKind.COLLECTIVE and ".h." in op.name] == [
        "transformer.h.0.add_attn_mlp_all_reduce"]
    assert fal["transformer.h.0.mlp.dense_h_to_4h"].inputs == ("transformer.h.0.ln_mlp",)
    neox = _hf("GPTNeoXForCausalLM", hidden_size=1024, num_hidden_layers=1, num_attention_heads=16,
               intermediate_size=4096, tensor_parallel=4)
    assert len([op for op in neox.ops if op.kind is OpKind.COLLECTIVE and ".layers." in op.name]) == 2


def test_falcon_refusals():
    with pytest.raises(ValueError, match="alibi: True is not supported"):
        _hf("FalconForCausalLM", alibi=True)
    with pytest.raises(ValueError, match="parallel_attn: false with new_decoder_architecture"):
        _hf("FalconForCausalLM", new_decoder_architecture=True, parallel_attn=False)
    with pytest.raises(ValueError, match="n_head: unsupported field"):  # the RW configs' keys, unread by transformers 5
        _hf("FalconForCausalLM", n_head=71)


# ---- Command R -----------------------------------------------------------------------------------------------------


def _cohere(vocab, h, layers, heads, kv, d, ffn, qk_norm=False):
    layer = h + h * (heads + 2 * kv) * d + heads * d * h + 3 * h * ffn + ((heads + kv) * d if qk_norm else 0)
    return vocab * h + layers * layer + h  # LayerNorms without bias, tied head


def test_command_r_counts():
    assert _hf("CohereForCausalLM").meta["model_params"] == _cohere(256000, 8192, 40, 64, 64, 128, 22528)
    assert round(_cohere(256000, 8192, 40, 64, 64, 128, 22528) / 1e9) == 35  # Cohere: "35 billion parameters"
    plus = _hf("CohereForCausalLM", hidden_size=12288, intermediate_size=33792, num_hidden_layers=64,
               num_attention_heads=96, num_key_value_heads=8, use_qk_norm=True)
    total = _cohere(256000, 12288, 64, 96, 8, 128, 33792, qk_norm=True)
    assert plus.meta["model_params"] == total and round(total / 1e9) == 104  # Command R+: "104 billion"


def test_command_r_layer_norms_qk_norm_and_logit_scale():
    g = _hf("CohereForCausalLM", hidden_size=1024, num_hidden_layers=1, num_attention_heads=8, num_key_value_heads=2,
            intermediate_size=2048, use_qk_norm=True, vocab_size=1000, seq_len=16)
    assert [w.name for w in g["model.layers.0.input_layernorm"].weights] == ["model.layers.0.input_layernorm.weight"]
    assert g["model.layers.0.self_attn.q_norm"].weights[0].shape == (8, 128)  # a weight per head
    assert g["model.layers.0.self_attn.k_norm"].weights[0].shape == (2, 128)
    assert g["logits_scaling"].flops == 16 * 1000  # logits × logit_scale


def test_command_r7b_global_layers_have_no_rope_and_no_window():
    g = _hf("Cohere2ForCausalLM", hidden_size=512, num_hidden_layers=8, num_attention_heads=4, num_key_value_heads=2,
            intermediate_size=1024, vocab_size=1000, phase="decode", kv_len=6000)
    names = {op.name for op in g.ops}
    for i in range(8):
        has_rope = f"model.layers.{i}.self_attn.q_rope" in names
        keys = g[f"model.layers.{i}.self_attn.scores"].gemm.n
        if (i + 1) % 4:  # sliding: RoPE, at most the 4,096-token window read
            assert has_rope and keys == 4096
        else:  # global: every cached token and the new one, no RoPE
            assert not has_rope and keys == 6001


# ---- StableLM, StarCoder2, Phi-3.5-MoE ------------------------------------------------------------------------------


def test_stablelm_counts_and_per_head_norms():
    h, ffn = 2560, 6912  # StableLM-3B-4E1T: sequential, SwiGLU, no biases but the LayerNorms'
    layer = 2 * _ln(h) + 4 * h * h + 3 * h * ffn
    assert _hf("StableLmForCausalLM").meta["model_params"] == 2 * 50304 * h + 32 * layer + _ln(h) == 2_795_443_200
    h, ffn = 2048, 5632  # StableLM 2 1.6B: q/k/v biases
    layer = 2 * _ln(h) + 4 * h * h + 3 * h + 3 * h * ffn
    total = 2 * 100352 * h + 24 * layer + _ln(h)
    g = _hf("StableLmForCausalLM", vocab_size=100352, hidden_size=h, intermediate_size=ffn, num_hidden_layers=24,
            use_qkv_bias=True)
    assert g.meta["model_params"] == total
    assert total - 24 * 2 * h == 1_644_417_024  # Stability's card, which leaves out the per-layer LayerNorm biases
    qk = _hf("StableLmForCausalLM", hidden_size=256, num_attention_heads=4, num_key_value_heads=2, num_hidden_layers=1,
             qk_layernorm=True, use_parallel_residual=True)
    assert [w.name for w in qk["model.layers.0.self_attn.k_layernorm"].weights] == [
        "model.layers.0.self_attn.k_layernorm.norms.0.weight", "model.layers.0.self_attn.k_layernorm.norms.1.weight"]
    assert "model.layers.0.post_attention_layernorm" not in {op.name for op in qk.ops}  # one norm when parallel


def test_starcoder2_15b_count_and_its_biased_gelu_mlp():
    h, ffn, heads, kv = 6144, 24576, 48, 4
    layer = 2 * _ln(h) + h * (heads + 2 * kv) * 128 + (heads + 2 * kv) * 128 + h * h + h + 2 * h * ffn + ffn + h
    g = _hf("Starcoder2ForCausalLM", hidden_size=h, intermediate_size=ffn, num_hidden_layers=40,
            num_attention_heads=heads, num_key_value_heads=kv, tie_word_embeddings=False)
    total = 2 * 49152 * h + 40 * layer + _ln(h)
    assert g.meta["model_params"] == total and round(total / 1e9) == 16  # BigCode: StarCoder2-15B
    small = _hf("Starcoder2ForCausalLM", num_hidden_layers=1)
    assert [w.name.rsplit(".", 2)[-2] for w in small["model.layers.0.mlp.c_fc"].weights] == ["c_fc", "c_fc"]


def test_phi_3_5_moe_count():
    h, ffn, heads, kv, vocab, experts = 4096, 6400, 32, 8, 32064, 16
    attn = h * (heads + 2 * kv) * 128 + (heads + 2 * kv) * 128 + h * h + h  # attention_bias true on the hub
    layer = 2 * _ln(h) + attn + h * experts + experts * 3 * h * ffn
    total = vocab * h + 32 * layer + _ln(h) + vocab * h + vocab  # lm_head_bias true
    g = _hf("PhiMoEForCausalLM", attention_bias=True, lm_head_bias=True, sliding_window=131072)
    assert g.meta["model_params"] == total and round(total / 1e9) == 42  # Microsoft: "42B parameters"
    assert round(g.meta["moe"]["active_params"] / 1e8) == 66  # "6.6B active"
    with pytest.raises(ValueError, match="num_experts_per_tok: 4 is not supported"):
        _hf("PhimoeForCausalLM", num_experts_per_tok=4)


def test_parallel_blocks_refuse_sequence_parallelism():
    with pytest.raises(ValueError, match="not modelled for PhiForCausalLM") as info:  # at its key
        HfParams(config={"architectures": ["PhiForCausalLM"]}, tensor_parallel=2, sequence_parallel=True)
    assert [e["loc"] for e in info.value.errors()] == [("sequence_parallel",)]


# ---- Gemma, OLMo, Granite, SmolLM3, MiniMax-M2 --------------------------------------------------------------------


def test_gemma_non_embedding_counts_are_the_gemma_reports():
    # Gemma Team 2024, table 2: 7,751,248,896 and 1,981,884,416 non-embedding parameters (7B and 2B)
    for fields, published in (({}, 7_751_248_896),
                              (dict(hidden_size=2048, intermediate_size=16384, num_hidden_layers=18,
                                    num_attention_heads=8, num_key_value_heads=1), 1_981_884_416)):
        g = _hf("GemmaForCausalLM", hidden_act="gelu", **fields)
        assert g.meta["model_params"] - 256000 * fields.get("hidden_size", 3072) == published
    assert "model.embed_scale" in {op.name for op in _hf("GemmaForCausalLM", num_hidden_layers=1).ops}


def _olmo2(vocab, h, layers, ffn):
    return 2 * vocab * h + layers * (4 * h * h + 2 * h + 3 * h * ffn + 2 * h) + h  # q_norm, k_norm h wide (MHA)


def test_olmo2_counts_and_post_norms():
    g = _preset("olmo2_7b", seq_len=8)
    assert g.meta["model_params"] == _olmo2(100352, 4096, 32, 11008) == 7_298_617_344  # Ai2's 7,298,617,344 (hub)
    g = _preset("olmo2_7b", seq_len=16, layers=1)
    names = {op.name for op in g.ops}
    assert "model.layers.0.input_layernorm" not in names
    assert g["model.layers.0.post_attention_layernorm"].inputs == ("model.layers.0.self_attn.o_proj",)
    assert g["model.layers.0.mlp.gate_proj"].inputs == ("model.layers.0.add_attn",)
    assert g["model.layers.0.self_attn.q_norm"].inputs == ("model.layers.0.self_attn.q_proj",)  # before the heads
    assert g["model.layers.0.self_attn.q_norm"].weights[0].shape == (4096,)


def test_olmo2_qk_norm_gathers_the_heads_under_tensor_parallelism():
    # vLLM's Olmo2Attention: all-gather q and k, norm the whole projection, keep this chip's heads
    g = _preset("olmo2_7b", seq_len=16, layers=1, tensor_parallel=2)
    gather = g["model.layers.0.self_attn.q_norm_all_gather"]
    assert gather.kind is OpKind.COLLECTIVE and gather.out_shape == (1, 16, 4096)
    assert g["model.layers.0.self_attn.q_norm_shard"].out_shape == (1, 16, 2048)


def test_olmo3_windows_and_olmoe_count():
    g = _hf("Olmo3ForCausalLM", num_hidden_layers=8, hidden_size=256, num_attention_heads=4, intermediate_size=512,
            phase="decode", kv_len=5000)
    keys = [g[f"model.layers.{i}.self_attn.scores"].gemm.n for i in range(8)]
    assert keys == [4096, 4096, 4096, 5001] * 2  # three sliding layers to each full one
    h, ffn = 2048, 1024  # OLMoE-1B-7B: 64 experts, q_norm h wide, k_norm kv_heads × head_dim
    layer = 4 * h * h + h + h + h * 64 + 64 * 3 * h * ffn + 2 * h
    total = 2 * 50304 * h + 16 * layer + h
    g = _hf("OlmoeForCausalLM", intermediate_size=ffn)
    assert g.meta["model_params"] == total == 6_919_161_856  # Ai2's 6,919,161,856 (hub)
    assert round(g.meta["moe"]["active_params"] / 1e8) == 13  # "1.3B active"


def test_granite_counts_and_multipliers():
    h, ffn, kv = 4096, 12800, 8  # granite-3.3-8b: 40 layers, GQA of 32 / 8 heads, tied
    layer = 2 * h + h * (32 + 2 * kv) * 128 + h * h + 3 * h * ffn
    g = _hf("GraniteForCausalLM", intermediate_size=ffn, num_hidden_layers=40, num_key_value_heads=kv,
            tie_word_embeddings=True, vocab_size=49159, embedding_multiplier=12.0, logits_scaling=16.0,
            residual_multiplier=0.22, attention_multiplier=0.0078125, seq_len=4)
    assert g.meta["model_params"] == 49159 * h + 40 * layer + h == 8_170_864_640  # IBM's count (hub)
    assert g["model.embed_scale"].flops == 4 * h and g["logits_scaling"].flops == 4 * 49159
    moe = _hf("GraniteMoeForCausalLM", hidden_size=1024, intermediate_size=512, num_attention_heads=16,
              num_key_value_heads=8, num_hidden_layers=24, num_local_experts=32, num_experts_per_tok=8,
              tie_word_embeddings=True, vocab_size=49155)
    layer = 2 * 1024 + 1024 * (16 + 16) * 64 + 1024 * 1024 + 1024 * 32 + 32 * 3 * 1024 * 512
    assert moe.meta["model_params"] == 49155 * 1024 + 24 * layer + 1024 == 1_334_628_352  # granite-3.1-1b-a400m


def test_smollm3_count_and_nope_layers():
    h, ffn = 2048, 11008  # SmolLM3-3B: 16 heads, 4 KV heads of 128, tied
    layer = 2 * h + h * (16 + 8) * 128 + h * h + 3 * h * ffn
    assert _preset("smollm3_3b", seq_len=8).meta["model_params"] == 128256 * h + 36 * layer + h == 3_075_098_624
    g = _preset("smollm3_3b", seq_len=8, layers=8)
    names = {op.name for op in g.ops}
    assert [f"model.layers.{i}.self_attn.q_rope" in names for i in range(8)] == [True, True, True, False] * 2


def test_minimax_m2_count_and_its_partial_rope():
    h, heads, kv, d, ffn, experts = 3072, 48, 8, 128, 1536, 256
    attn = h * (heads + 2 * kv) * d + heads * d * h + (heads + kv) * d  # q_norm and k_norm over the projections
    layer = 2 * h + attn + h * experts + experts * 3 * h * ffn
    total = 2 * 200064 * h + 62 * layer + h
    g = _preset("minimax_m2", seq_len=8)
    assert g.meta["model_params"] == total and round(total / 1e10) == 23  # MiniMax: "230 billion total"
    active = g.meta["moe"]["active_params"] - 2 * 200064 * h
    assert round(active / 1e9) == 10  # "10 billion active" (without the embedding table and head)
    g = _preset("minimax_m2", seq_len=16, layers=1)
    assert g["model.layers.0.self_attn.q_rope.rotary"].out_shape == (1, 48, 16, 64)  # rotary_dim 64 of 128


def test_minimax_m2_qk_norm_is_sharded_under_tensor_parallelism():
    # vLLM's MiniMaxM2Attention: q_norm / k_norm are MiniMaxText01RMSNormTP over the whole projections (48 x 128 and
    # 8 x 128), each chip holding its heads' shard of the weight; forward_qk concatenates each token's q and k mean
    # squares (fp32) and all-reduces them once, then every chip scales its own shard: no all-gather
    g = _preset("minimax_m2", seq_len=16, layers=1, tensor_parallel=4)
    var = g["model.layers.0.self_attn.qk_norm_all_reduce"]
    assert var.kind is OpKind.COLLECTIVE and var.out_shape == (1, 16, 2) and var.dtype == "fp32"
    assert var.out_bytes == 16 * 2 * 4  # 2 fp32 values a token
    q, k = g["model.layers.0.self_attn.q_norm"], g["model.layers.0.self_attn.k_norm"]
    assert q.weights[0].shape == (48 * 128 // 4,) and k.weights[0].shape == (8 * 128 // 4,)  # the shards
    assert var.name in q.inputs and var.name in k.inputs
    assert not any(op.name.endswith(("q_norm_all_gather", "k_norm_all_gather")) for op in g.ops)
    # per chip: the two norms' weights split 4 ways; one chip holds (48 + 8) x 128 / 4 = 1,792 norm parameters
    one = _preset("minimax_m2", seq_len=16, layers=1)
    assert one["model.layers.0.self_attn.q_norm"].weights[0].shape == (48 * 128,)
    assert "model.layers.0.self_attn.qk_norm_all_reduce" not in {op.name for op in one.ops}


def test_training_dropouts_sit_where_transformers_puts_them():
    # StableLM: hidden_dropout on the MLP output only; Falcon (parallel): one dropout of the summed branches
    from accelsim.ir import OpKind as K

    def drops(arch, **fields):
        g = build_workload("hf", {"config": {"architectures": [arch], **fields}, "dtype": "bf16", "seq_len": 8,
                                  "layers": 1, "mode": "training"})
        layer = ("transformer.h.0." if arch == "FalconForCausalLM" else "model.layers.0.")
        return sorted(op.name.rsplit(".", 1)[-1] for op in g.ops
                      if op.kind is K.ELEMENTWISE and op.fn == "dropout" and op.name.startswith(layer))

    assert drops("StableLmForCausalLM", hidden_dropout=0.1, hidden_size=256, num_attention_heads=4,
                 num_key_value_heads=4, intermediate_size=512, vocab_size=1000) == ["resid_mlp_dropout"]
    assert drops("FalconForCausalLM", hidden_dropout=0.1, hidden_size=256, num_attention_heads=4,
                 vocab_size=1000) == ["hidden_dropout"]


def test_olmo1_has_parameter_free_layernorms_and_clamps_qkv():
    # OLMo-1B: 16 layers of 2048 (16 heads), SwiGLU 8192, tied 50,304 × 2048 table, LayerNorms without parameters:
    # 1,176,764,416 (Ai2: OLMo 1B); OLMo-7B: 32 × 4096, 11008, untied: 6,888,095,744 (6.9 B)
    h = 2048
    g = _hf("OlmoForCausalLM", hidden_size=h, num_hidden_layers=16, num_attention_heads=16, intermediate_size=8192,
            tie_word_embeddings=True)
    assert g.meta["model_params"] == 50304 * h + 16 * (4 * h * h + 3 * h * 8192) == 1_176_764_416
    h = 4096
    assert _hf("OlmoForCausalLM").meta["model_params"] == 2 * 50304 * h + 32 * (4 * h * h + 3 * h * 11008)
    one = _hf("OlmoForCausalLM", clip_qkv=8.0, num_hidden_layers=1, seq_len=4)
    assert one["model.layers.0.input_layernorm"].weights == ()
    clamp = one["model.layers.0.self_attn.k_clamp"]
    assert clamp.fn == "clamp" and clamp.flops == 4 * 4096 and clamp.inputs == ("model.layers.0.self_attn.k_proj",)
