"""A Hugging Face config's ``quantization_config`` (``hf``): the stored weights of the methods whose storage is
documented (gpt-oss's MXFP4 experts, DeepSeek-V3's block-wise FP8), the workload's own weight dtype standing for it,
unknown methods refused."""

from __future__ import annotations

import pytest

from accelsim import simulate
from accelsim.builders import build_workload
from accelsim.config import load_workload
from accelsim.errors import ConfigError
from accelsim.units import group_bytes, packed_bytes

from .hf_checks import refused

# openai/gpt-oss-20b config.json as published (https://huggingface.co/openai/gpt-oss-20b/blob/main/config.json)
GPT_OSS_20B = {
    "architectures": ["GptOssForCausalLM"], "attention_bias": True, "attention_dropout": 0.0, "eos_token_id": 200002,
    "experts_per_token": 4, "head_dim": 64, "hidden_act": "silu", "hidden_size": 2880, "initial_context_length": 4096,
    "initializer_range": 0.02, "intermediate_size": 2880,
    "layer_types": ["sliding_attention", "full_attention"] * 12, "max_position_embeddings": 131072,
    "model_type": "gpt_oss", "num_attention_heads": 64, "num_experts_per_tok": 4, "num_hidden_layers": 24,
    "num_key_value_heads": 8, "num_local_experts": 32, "output_router_logits": False, "pad_token_id": 199999,
    "quantization_config": {"modules_to_not_convert": ["model.layers.*.self_attn", "model.layers.*.mlp.router",
                                                       "model.embed_tokens", "lm_head"], "quant_method": "mxfp4"},
    "rms_norm_eps": 1e-05, "rope_scaling": {"beta_fast": 32.0, "beta_slow": 1.0, "factor": 32.0,
                                            "original_max_position_embeddings": 4096, "rope_type": "yarn",
                                            "truncate": False},
    "rope_theta": 150000, "router_aux_loss_coef": 0.9, "sliding_window": 128, "swiglu_limit": 7.0,
    "tie_word_embeddings": False, "transformers_version": "4.55.0.dev0", "use_cache": True, "vocab_size": 201088}

# deepseek-ai/DeepSeek-V3 config.json's quantization_config
# (https://huggingface.co/deepseek-ai/DeepSeek-V3/blob/main/config.json); its other fields are the preset's
DSV3_FP8 = {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8", "weight_block_size": [128, 128]}


def _hf(config, **params):
    return build_workload("hf", {"config": config, "seq_len": 8, "dtype": "bf16", **params})


def _deepseek_v3(quantization_config, **params):
    w = load_workload("deepseek_v3")
    return build_workload(w.model, {**w.params, "dtype": "bf16", "seq_len": 8,
                                    "quantization_config": quantization_config, **params})


def test_gpt_oss_mxfp4_experts_from_the_published_config():
    # the experts' weight matrices in FP4 with a byte of scale per 32, the rest (their biases, attention, router,
    # norms, embeddings, head) in bf16: the gpt-oss model card's (arXiv 2508.10925, Table 1) 12.8 GiB checkpoint,
    # and the preset's figure, which sets expert_weight_dtype fp4 and quant_group_size 32 by hand
    g = _hf(GPT_OSS_20B)
    experts = {w.name: w for op in g.ops if "experts" in op.attrs for w in op.weights if not w.name.endswith(".bias")}
    assert experts and all(w.dtype == "fp4" and w.group_size == 32 for w in experts.values())
    assert all(w.dtype is None for w in g["model.layers.0.mlp.router"].weights)
    rest = g.params - sum(w.numel for w in experts.values())
    assert g.weight_bytes == 2 * rest + sum(packed_bytes(w.numel, "fp4", 32) for w in experts.values())
    assert round(g.weight_bytes / 2**30, 1) == 12.8
    w = load_workload("gpt_oss_20b")
    assert build_workload(w.model, {**w.params, "dtype": "bf16", "seq_len": 8}).weight_bytes == g.weight_bytes
    # without its quantization_config the same model is 16-bit throughout
    plain = {k: v for k, v in GPT_OSS_20B.items() if k != "quantization_config"}
    assert _hf(plain).weight_bytes == 2 * g.params


def test_deepseek_v3_fp8_blocks_from_its_quantization_config():
    # every linear weight in fp8 but lm_head and the routers (vLLM builds MoE gates unquantised; the checkpoint's
    # gate.weight is bf16); embeddings and norms are not linear layers and stay bf16. bf16 parameters: embed_tokens
    # and lm_head 2·129280·7168, 58 MoE routers 256·7168, per layer two RMSNorms of 7168, q_a_layernorm 1536 and
    # kv_a_layernorm 512, the final norm 7168; a weight is 1 byte, a bf16 one 1 more. The scales (a float32 per
    # 128 × 128 block) are not counted.
    g = _deepseek_v3(DSV3_FP8)
    bf16 = 2 * 129280 * 7168 + 58 * 256 * 7168 + 61 * (2 * 7168 + 1536 + 512) + 7168
    assert g.params == 671_026_404_352
    assert g.weight_bytes == g.params + bf16
    assert [w.dtype for w in g["lm_head"].weights] == [None]
    assert [w.dtype for w in g["model.layers.3.mlp.gate"].weights] == [None]
    # activation_scheme dynamic: the GEMM computes fp8 x fp8 (W8A8, probe p171 #3; it was priced as W8A16 before,
    # bf16 compute dequantising its fp8 weights, which this line asserted), its weights stored in that dtype
    q_a = g["model.layers.0.self_attn.q_a_proj"]
    assert (q_a.dtype, q_a.out_dtype, [w.dtype for w in q_a.weights]) == ("fp8", "bf16", [None])
    assert "dequant" not in q_a.attrs
    # modules_to_not_convert: transformers' module names, a tail or a pattern (* one name part); here every
    # layer's attention stays bf16 too
    keep = _deepseek_v3({**DSV3_FP8, "modules_to_not_convert": ["model.layers.*.self_attn"]}, layers=1)
    # (under W8A8 a weight stored in its GEMM's compute dtype has dtype None: the op's dtype says it)
    kept, quantised = keep["model.layers.0.self_attn.q_a_proj"], keep["model.layers.0.mlp.gate_proj"]
    assert (kept.dtype, [w.dtype for w in kept.weights]) == ("bf16", [None])
    assert (quantised.dtype, [w.dtype for w in quantised.weights]) == ("fp8", [None])
    # dequantize: true loads the weights dequantised (bf16)
    assert _deepseek_v3({**DSV3_FP8, "dequantize": True}).weight_bytes == 2 * g.params


# Llama-3-8B's sizes (hidden 4096, intermediate 14336, 32 heads of 128, 8 KV heads, vocab 128256, untied) in one
# layer, with the fp8 quantization_config of probe p171's q8.yaml (no weight_block_size: per-tensor scales)
LLAMA3_1L = {"architectures": ["LlamaForCausalLM"], "hidden_size": 4096, "intermediate_size": 14336,
             "num_attention_heads": 32, "num_key_value_heads": 8, "num_hidden_layers": 1, "vocab_size": 128256,
             "tie_word_embeddings": False}
FP8_DYNAMIC = {"quant_method": "fp8", "activation_scheme": "dynamic", "fmt": "e4m3"}


def test_fp8_activation_scheme_quantises_the_gemm_inputs():
    # vLLM's Fp8LinearMethod (vllm/model_executor/layers/quantization/fp8.py) quantises the activations of an fp8
    # checkpoint at run time and runs fp8 x fp8 (CUTLASS / DeepGEMM) on GPUs of compute capability >= 8.9; its output
    # is torch.get_default_dtype() (bf16). Weights: the decoder's linears 1 B each, lm_head, embedding and norms bf16.
    # One layer: q/o 2·4096·4096 + k/v 2·4096·1024 + gate/up/down 3·4096·14336 = 218,103,808 linear weights;
    # embed_tokens and lm_head 128256·4096 = 525,336,576 each; 3 RMSNorms of 4096 (two in the layer, the final one).
    linear = 2 * 4096 * 4096 + 2 * 4096 * 1024 + 3 * 4096 * 14336
    bf16 = 2 * 128256 * 4096 + 3 * 4096
    assert linear == 218_103_808
    config = {**LLAMA3_1L, "quantization_config": FP8_DYNAMIC}
    g = _hf(config, phase="decode", kv_len=64)
    plain = _hf(LLAMA3_1L, phase="decode", kv_len=64)
    assert g.weight_bytes == linear * 1 + bf16 * 2
    gate = g["model.layers.0.mlp.gate_proj"]
    assert (gate.dtype, gate.out_dtype, "dequant" in gate.attrs) == ("fp8", "bf16", False)
    assert g["lm_head"].dtype == "bf16" and [w.dtype for w in g["lm_head"].weights] == [None]
    # the KV cache stays in the model's dtype (vLLM's kv_cache_dtype auto), as without the config
    assert g.meta["kv_cache_dtype"] == "bf16" and g.meta["kv_cache_bytes"] == plain.meta["kv_cache_bytes"]
    # the rate: H100's datasheet gives dense FP8 1,979 TFLOPS against BF16 989.4, so a 2x multiplier; an A100 has no
    # fp8 tensor rate (vLLM runs Marlin's weight-only fp8 there) and runs the GEMM at its bf16 rate, with a note
    def rate(arch):
        rep = simulate({"model": "hf", "config": config, "dtype": "bf16", "phase": "decode", "kv_len": 64}, arch)
        rep = rep.to_dict()
        return next(o["mapping"]["rate"] for o in rep["ops"] if o["name"] == "model.layers.0.mlp.gate_proj"), rep
    h100, _ = rate("h100")
    assert (h100["runs_as"], h100["multiplier"]) == ("fp8", 2.0)
    a100, rep = rate("a100")
    assert (a100["dtype"], a100["runs_as"], a100["multiplier"]) == ("fp8", "bf16", 1.0)
    assert any("no fp8 rate" in n for n in rep["notes"])
    # the workload's own activation_dtype wins: bf16 computes W8A16, dequantising the fp8 weights inside the GEMM
    w8a16 = _hf(config, phase="decode", kv_len=64, activation_dtype="bf16")
    gate = w8a16["model.layers.0.mlp.gate_proj"]
    assert (gate.dtype, gate.attrs.get("dequant"), [w.dtype for w in gate.weights]) == ("bf16", "fp8", ["fp8"])
    assert w8a16.weight_bytes == g.weight_bytes
    # static (one activation scale per tensor from the checkpoint) is W8A8 too; vLLM refuses it with block scales
    static = _hf({**config, "quantization_config": {**FP8_DYNAMIC, "activation_scheme": "static"}})
    assert static["model.layers.0.mlp.gate_proj"].dtype == "fp8"
    refused({**config, "quantization_config": {**FP8_DYNAMIC, "activation_scheme": "static",
                                               "weight_block_size": [128, 128]}},
            "quantization_config.activation_scheme")


def test_the_workloads_own_weight_dtype_stands_for_the_config():
    g = _hf(GPT_OSS_20B, weight_dtype="int8", layers=1)
    assert {w.dtype for op in g.ops if "experts" in op.attrs for w in op.weights
            if not w.name.endswith(".bias")} == {"int8"}
    assert any("quantization_config (quant_method mxfp4) is not applied" in n for n in g.meta["notes"])
    assert "notes" not in _hf(GPT_OSS_20B, layers=1).meta


def test_unknown_or_malformed_quantization_is_refused():
    # (this used gptq as its unknown method; GPTQ's storage is modelled since probe p273 #3, so bitsandbytes now)
    bnb = {**GPT_OSS_20B, "quantization_config": {"quant_method": "bitsandbytes", "load_in_4bit": True}}
    msg = refused(bnb, "quantization_config.quant_method")
    assert "'bitsandbytes' is not modelled" in msg and "weight_dtype" in msg
    # an int4 with an fp16 scale per 128 written as the workload's own: accepted, with a note
    g = _hf(bnb, weight_dtype="int4", quant_group_size=128, layers=1)
    assert any("quant_method bitsandbytes" in n for n in g.meta["notes"])
    refused({**GPT_OSS_20B, "quantization_config": {"quant_method": "mxfp4", "bits": 4}},
             "quantization_config.bits")
    refused({**GPT_OSS_20B, "quantization_config": {**DSV3_FP8, "fmt": "e5m2"}}, "quantization_config.fmt")
    dense = {"architectures": ["LlamaForCausalLM"], "hidden_size": 256, "intermediate_size": 512,
             "num_attention_heads": 4, "num_hidden_layers": 1, "vocab_size": 100,
             "quantization_config": {"quant_method": "mxfp4"}}
    assert "has none" in refused(dense, "quantization_config.quant_method")


def test_a_group_size_beside_the_configs_quantization_is_refused():
    # gpt-oss's quantization_config (mxfp4) sets the experts' fp4 weights and their groups of 32; a workload's
    # quant_group_size would change nothing (probe p79 #3), so it is refused at its key; with the workload's own
    # expert_weight_dtype standing for the config it sizes those experts' scales and is read
    with pytest.raises(ConfigError) as e:
        load_workload({"model": "hf", "config": GPT_OSS_20B, "quant_group_size": 16, "layers": 1})
    assert str(e.value).startswith("<input>: workload.quant_group_size: the config's quantization_config (quant_method mxfp4)")
    g = _hf(GPT_OSS_20B, expert_weight_dtype="fp4", quant_group_size=16, layers=1)
    assert "quant_group_size" not in g.meta["unread_params"]
    assert {w.group_size for op in g.ops if "experts" in op.attrs for w in op.weights
            if not w.name.endswith(".bias")} == {16}


# Qwen2-7B's config (workloads/qwen2_7b.yaml, from https://huggingface.co/Qwen/Qwen2-7B/blob/main/config.json)
QWEN2_7B = {"architectures": ["Qwen2ForCausalLM"], "hidden_act": "silu", "hidden_size": 3584,
            "intermediate_size": 18944, "max_window_layers": 28, "num_attention_heads": 28, "num_hidden_layers": 28,
            "num_key_value_heads": 4, "rms_norm_eps": 1e-06, "sliding_window": 131072, "tie_word_embeddings": False,
            "use_sliding_window": False, "vocab_size": 152064}
# its linear weights: 28 layers of q (3584 x 3584), k and v (512 x 3584 each), o (3584 x 3584), gate / up / down
# (3 x 3584 x 18944) = 28 x 233,046,016; every row's K (3584 or 18944) a whole number of groups of 128 (28, 148)
QWEN2_LINEAR = 28 * (3584 * 3584 + 2 * 512 * 3584 + 3584 * 3584 + 3 * 3584 * 18944)
QWEN2_GROUPS = QWEN2_LINEAR // 128  # 50,978,816 groups of 128, one fp16 scale each
# the rest in bf16: embedding and untied lm_head (152064 x 3584 each), q/k/v biases, two norms a layer, the final norm
QWEN2_16BIT = 2 * (2 * 152064 * 3584 + 28 * (3584 + 2 * 512) + 28 * 2 * 3584 + 3584)
# AutoAWQ's config.json quantization_config (as Qwen/Qwen2.5-7B-Instruct-AWQ publishes it)
AWQ = {"bits": 4, "group_size": 128, "quant_method": "awq", "version": "gemm", "zero_point": True}


def test_awq_stores_a_zero_point_per_group():
    # probe p273 #3: AutoAWQ's WQLinear_GEMM and vLLM's AWQLinearMethod.create_weights hold qzeros as
    # (K / 128, N / 8) int32, eight 4-bit zeros a word: 0.5 B per group per output column beside the 2 B fp16 scale
    assert QWEN2_LINEAR == 6_525_288_448 and QWEN2_GROUPS == 50_978_816
    symmetric = QWEN2_LINEAR // 2 + QWEN2_GROUPS * 2 + QWEN2_16BIT
    assert symmetric == 5_545_257_984  # docs/configuration.md's weight_dtype int4 figure: scales only
    g = _hf({**QWEN2_7B, "quantization_config": AWQ}, seq_len=1)
    zeros = QWEN2_GROUPS // 2  # 25,489,408 B: 4 bits per group
    assert g.weight_bytes == symmetric + zeros == 5_570_747_392
    down = next(op for op in g.ops if op.name.endswith("layers.0.mlp.down_proj"))
    assert down.weights[0].dtype == "int4" and down.weights[0].zero_points
    assert down.weights[0].nbytes("bf16") == 3584 * 18944 // 2 + 3584 * 148 * 2 + 3584 * 148 // 2
    head = next(op for op in g.ops if op.name.endswith("lm_head"))
    assert head.weights[0].dtype is None and not head.weights[0].zero_points  # the head stays in bf16
    # vLLM allocates qzeros whatever zero_point says (AWQLinearMethod; AWQ Marlin has no uint4 without them)
    assert _hf({**QWEN2_7B, "quantization_config": {**AWQ, "zero_point": False}}, seq_len=1).weight_bytes \
        == symmetric + zeros
    # the workload's own weight_dtype int4 stands for the config: symmetric, scales only, with a note
    own = _hf({**QWEN2_7B, "quantization_config": AWQ}, seq_len=1, weight_dtype="int4")
    assert own.weight_bytes == symmetric and any("quant_method awq" in n for n in own.meta["notes"])


def test_gptq_stores_zero_points_only_when_asymmetric():
    symmetric = QWEN2_LINEAR // 2 + QWEN2_GROUPS * 2 + QWEN2_16BIT
    gptq = {"quant_method": "gptq", "bits": 4, "group_size": 128, "desc_act": False, "damp_percent": 0.01}
    # sym: true (the default): Marlin drops the loaded qzeros (MPLinearLayerConfig zero_points=False)
    assert _hf({**QWEN2_7B, "quantization_config": gptq}, seq_len=1).weight_bytes == symmetric
    assert _hf({**QWEN2_7B, "quantization_config": {**gptq, "sym": True}}, seq_len=1).weight_bytes == symmetric
    # sym: false: vLLM's GPTQ kernel keeps qzeros, (K / group, N / 8) int32
    asym = _hf({**QWEN2_7B, "quantization_config": {**gptq, "sym": False}}, seq_len=1)
    assert asym.weight_bytes == symmetric + QWEN2_GROUPS // 2
    # 8 bits, sym: false: 1 B a weight, a 2 B scale and an 8-bit zero point (N / 4 int32 words a group row) a group
    g8 = _hf({**QWEN2_7B, "quantization_config": {**gptq, "bits": 8, "sym": False}}, seq_len=1)
    assert g8.weight_bytes == QWEN2_LINEAR + QWEN2_GROUPS * (2 + 1) + QWEN2_16BIT == 8_858_881_024
    # group_size -1: one scale (and zero point) a row; q/k/v/o/gate/up rows have K 3584, down's 18944:
    # 28 x (3584 + 512 + 512 + 3584 + 18944 + 18944 + 3584) rows
    rows = 28 * (3584 + 2 * 512 + 3584 + 2 * 18944 + 3584)
    per_row = _hf({**QWEN2_7B, "quantization_config": {**gptq, "group_size": -1, "sym": False}}, seq_len=1)
    assert per_row.weight_bytes == QWEN2_LINEAR // 2 + rows * 2 + rows // 2 + QWEN2_16BIT


@pytest.mark.parametrize("quant, field", [
    ({**AWQ, "bits": 8}, "bits"),  # vLLM's AWQConfig: "only 4-bit weight quantization is supported"
    ({**AWQ, "version": "gemv_fast"}, "version"),
    ({**AWQ, "group_size": 0}, "group_size"),
    ({**AWQ, "zero_point": "yes"}, "zero_point"),
    ({**AWQ, "calib": 1}, "calib"),
    ({"quant_method": "gptq", "bits": 3}, "bits"),  # no 3-bit dtype
    ({"quant_method": "gptq", "bits": 4, "sym": None}, "sym"),
    ({"quant_method": "gptq", "bits": 4, "lm_head": True}, "lm_head"),
])
def test_malformed_awq_gptq_configs_are_one_line_errors(quant, field):
    refused({**QWEN2_7B, "quantization_config": quant}, f"quantization_config.{field}")


def test_zero_points_are_packed_at_the_weights_width():
    # int4: 1,000 groups of 128 = 128,000 weights: 64,000 B packed, 2,000 B of fp16 scales, 1,000 x 4 bits = 500 B
    assert packed_bytes(128_000, "int4", 128, zero_points=True) == 64_000 + 2_000 + 500
    assert packed_bytes(128_000, "int4", 128) == 64_000 + 2_000  # symmetric: scales only
    # 3 groups' 12 bits of zeros round up to 2 B once
    assert group_bytes(3, "int4", zero_points=True) == 3 * 2 + 2
    assert group_bytes(3, "int8", zero_points=True) == 3 * 2 + 3
    assert group_bytes(4, "fp4", zero_points=True) == 4  # the block formats have no zero point


# llm-compressor's W4A16 quantization_config (the layout of neuralmagic's *-quantized.w4a16 checkpoints' config.json)
W4A16 = {"quant_method": "compressed-tensors", "format": "pack-quantized", "ignore": ["lm_head"],
         "kv_cache_scheme": None, "quantization_status": "compressed", "sparsity_config": {},
         "config_groups": {"group_0": {"targets": ["Linear"], "input_activations": None, "output_activations": None,
                                       "weights": {"type": "int", "num_bits": 4, "strategy": "group",
                                                   "group_size": 128, "symmetric": True, "dynamic": False,
                                                   "actorder": None, "observer": "minmax"}}}}


def _w4a16(**weights):
    group = W4A16["config_groups"]["group_0"]
    return {**W4A16, "config_groups": {"group_0": {**group, "weights": {**group["weights"], **weights}}}}


def test_compressed_tensors_wna16_stores_zero_points_only_when_asymmetric():
    symmetric = QWEN2_LINEAR // 2 + QWEN2_GROUPS * 2 + QWEN2_16BIT
    assert _hf({**QWEN2_7B, "quantization_config": W4A16}, seq_len=1).weight_bytes == symmetric == 5_545_257_984
    # symmetric: false: vLLM's CompressedTensorsWNA16 takes uint4 with a weight_zero_point, (N / 8, K / 128) int32
    asym = _hf({**QWEN2_7B, "quantization_config": _w4a16(symmetric=False)}, seq_len=1)
    assert asym.weight_bytes == symmetric + QWEN2_GROUPS // 2 == 5_570_747_392
    # W8A16 per channel: 1 B a weight, one fp16 scale a row (rows as in the GPTQ test above)
    rows = 28 * (3584 + 2 * 512 + 3584 + 2 * 18944 + 3584)
    ch = _hf({**QWEN2_7B, "quantization_config": _w4a16(num_bits=8, strategy="channel", group_size=None)}, seq_len=1)
    assert ch.weight_bytes == QWEN2_LINEAR + rows * 2 + QWEN2_16BIT


@pytest.mark.parametrize("quant, field", [
    (_w4a16(num_bits=2), "config_groups.group_0.weights.num_bits"),
    (_w4a16(type="float"), "config_groups.group_0.weights.type"),
    (_w4a16(strategy="tensor"), "config_groups.group_0.weights.strategy"),
    (_w4a16(group_size=None), "config_groups.group_0.weights.group_size"),
    (_w4a16(symmetric="no"), "config_groups.group_0.weights.symmetric"),
    ({**W4A16, "config_groups": {"group_0": {**W4A16["config_groups"]["group_0"],
                                             "input_activations": {"num_bits": 8}}}},
     "config_groups.group_0.input_activations"),  # W8A8: not this weight-only scheme
    ({**W4A16, "format": "float-quantized"}, "format"),
    ({**W4A16, "ignore": ["re:.*lm_head"]}, "ignore"),
    ({**W4A16, "kv_cache_scheme": {"num_bits": 8}}, "kv_cache_scheme"),
    ({**W4A16, "config_groups": {}}, "config_groups"),
])
def test_malformed_compressed_tensors_configs_are_one_line_errors(quant, field):
    refused({**QWEN2_7B, "quantization_config": quant}, f"quantization_config.{field}")
