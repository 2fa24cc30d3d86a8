"""An 8-bit arch dtype runs the whole model in it; only an explicitly quantised model is W8A8 (probe p178 #1, #2).

TPU v1 computes in int8 (and int16 at a quarter of the rate) and has no floating-point datapath (Jouppi et al., "In-
Datacenter Performance Analysis of a Tensor Processing Unit", ISCA 2017), and an NPU compiler's full-integer
quantisation (TFLite's, the Edge TPU's) quantises every layer: a workload whose dtype is the arch's int8
(``workload.dtype`` unset) has every op and weight in int8. vLLM's W8A8 rule (only the decoder's GEMMs quantised;
lm_head, the embedding and the norms 16-bit) is for a model the workload quantises itself (``activation_dtype``,
``weight_dtype``, a quantization_config), in inference only.
"""

from __future__ import annotations

from accelsim.builders import build_workload
from accelsim.config import load_workload

# GPT-2 small as a Hugging Face config (GPT2LMHeadModel, the published gpt2 config.json's fields)
GPT2_HF = """model: hf
phase: prefill
seq_len: 128
architectures: ["GPT2LMHeadModel"]
n_embd: 768
n_head: 12
n_layer: 12
n_positions: 1024
n_ctx: 1024
vocab_size: 50257
activation_function: gelu_new
layer_norm_epsilon: 1.0e-05
tie_word_embeddings: true
"""

# GPT-2 small, hidden 768, 12 layers, FFN 3072, vocab 50,257, 1024 positions, tied head
GPT2_LINEAR = 12 * (768 * 2304 + 768 * 768 + 768 * 3072 + 3072 * 768)  # 84,934,656 linear weights
GPT2_TABLES = 50257 * 768 + 1024 * 768  # wte + wpe: 39,383,808
GPT2_LINEAR_BIAS = 12 * (2304 + 768 + 3072 + 768)  # 82,944
GPT2_LN_WEIGHT = GPT2_LN_BIAS = 12 * 2 * 768 + 768  # 19,200 each (2 LayerNorms a layer and ln_f)
GPT2_PARAMS = GPT2_LINEAR + GPT2_TABLES + GPT2_LINEAR_BIAS + GPT2_LN_WEIGHT + GPT2_LN_BIAS  # 124,439,808


def _graph(name, *sets, default="int8"):
    w = load_workload(name, list(sets))
    return build_workload(w.model, w.params, default_dtype=default)


def test_hand_count_is_gpt2s_published_parameter_count():
    # 124,439,808: transformers' GPT2LMHeadModel.from_pretrained("gpt2").num_parameters()
    assert GPT2_PARAMS == 124_439_808


def test_gpt2_preset_and_its_hf_config_agree_on_an_int8_arch(tmp_path):
    (tmp_path / "gpt2hf.yaml").write_text(GPT2_HF)
    preset = _graph("gpt2", "seq_len=128")
    hf = _graph(str(tmp_path / "gpt2hf.yaml"))
    # every weight int8 (1 B), the biases int32 (4 B: TFLite's int8 quantisation spec keeps biases in int32):
    # 124,439,808 + 3 x (82,944 + 19,200) = 124,746,240 B; W8A8 would be 163,944,960 (tables and norms 2 B)
    whole = GPT2_PARAMS + 3 * (GPT2_LINEAR_BIAS + GPT2_LN_BIAS)
    assert preset.weight_bytes == hf.weight_bytes == whole == 124_746_240
    assert {op.dtype for op in preset.ops} == {op.dtype for op in hf.ops} == {"int8"}


def test_an_explicit_activation_dtype_is_w8a8_on_the_same_arch(tmp_path):
    (tmp_path / "gpt2hf.yaml").write_text(GPT2_HF)
    g = _graph(str(tmp_path / "gpt2hf.yaml"), "activation_dtype=int8")
    # the decoder's linears 1 B a weight; wte, wpe, the LayerNorms and every bias 2 B (probe p171 #1)
    w8a8 = GPT2_LINEAR + 2 * (GPT2_TABLES + GPT2_LINEAR_BIAS + GPT2_LN_WEIGHT + GPT2_LN_BIAS)
    assert g.weight_bytes == w8a8 == 163_944_960


def test_a_training_step_in_the_arch_int8_is_int8_throughout():
    g = _graph("llama2_7b", "mode=training", "layers=1", "seq_len=128")
    # one LLaMA-2-7B layer: 4 x 4096² + 3 x 4096 x 11008 = 202,375,168 linear weights; 2 x 32000 x 4096 + 3 x 4096 =
    # 262,156,288 for the table, the head and the norms: 464,531,456 params, each int8 (1 B), as the step's note
    # says ("its weights, activations and gradients are int8"); W8A8's exceptions (2 B, bf16 ops) are not applied
    params = 4 * 4096 ** 2 + 3 * 4096 * 11008 + 2 * 32000 * 4096 + 3 * 4096
    assert params == 464_531_456
    # every op is int8 but the loss and its gradient, which read the logits in fp32 (builders/training.py LOSS_DTYPE,
    # through loss.cast: probe p176 #1); the gradient they write is int8
    assert {op.name for op in g.ops if op.dtype != "int8"} == {"loss", "loss.grad"}
    assert g["loss"].dtype == g["loss.grad"].dtype == "fp32" and g["loss.grad"].out_dtype == "int8"
    stored = {w.name: w.nbytes(op.dtype) for op in g.ops for w in op.weights if w.role == "param"}
    assert sum(stored.values()) == params * 1


def _bf16(name, *sets):
    return _graph(name, "dtype=bf16", *sets)


def test_qwen2_moe_shared_expert_gate_stays_16_bit():
    # vLLM qwen2_moe.py, Qwen2MoeSparseMoeBlock: shared_expert_gate = torch.nn.Linear(hidden_size, 1, bias=False),
    # no quant_config (the router gate is ReplicatedLinear(quant_config=None), the shared expert quantised): Qwen1.5-
    # MoE-A2.7B's hidden 2048, so 2048 x 2 B = 4,096 B at bf16 under W8A8 and under int4 weights alike (probe p178 #4:
    # 2,048 B at fp8, 1,056 B packed int4 with its scales before)
    for sets in (("activation_dtype=fp8",), ("weight_dtype=int4",)):
        g = _bf16("qwen1_5_moe_a2_7b", "phase=decode", "layers=1", *sets)
        gate = g["model.layers.0.mlp.shared_expert_gate"]
        assert (gate.dtype, gate.weight_bytes) == ("bf16", 2048 * 2), sets
        assert "dequant" not in gate.attrs
    # the shared expert itself is quantised: gate_proj 2048 x 5632 fp8 weights, 1 B each
    g = _bf16("qwen1_5_moe_a2_7b", "phase=decode", "layers=1", "activation_dtype=fp8")
    assert g["model.layers.0.mlp.shared_expert.gate_proj"].weight_bytes == 2048 * 5632


def test_mla_absorbed_bmms_stay_16_bit_under_w8a8():
    # vLLM's MLA backend (MLACommonBaseImpl.process_weights_after_loading): "we currently do not have quantized bmm's
    # which are needed for W_UV and W_UK_T, we just store fp16/bf16 copies and perform the bmm's in 16-bit".
    # DeepSeek-V3: 128 heads, qk_nope_head_dim 128, v_head_dim 128, kv_lora_rank 512: W_UK_T and W_UV are
    # 128 x 128 x 512 weights each, 16,777,216 B at 2 B (probe p178 #5: 8,388,608 B at fp8 before)
    g = _bf16("deepseek_v3", "phase=decode", "layers=1", "activation_dtype=fp8", "kv_cache_dtype=bf16")
    for leaf in ("q_absorb", "v_absorb"):
        op = g[f"model.layers.0.self_attn.{leaf}"]
        assert (op.dtype, op.weight_bytes) == ("bf16", 128 * 128 * 512 * 2), leaf


def test_deepseek_v3_2_indexer_wk_and_weights_proj_stay_16_bit():
    # vLLM deepseek_v2.py, Indexer: wk_weights_proj = MergedColumnParallelLinear(hidden, [head_dim, n_head],
    # quant_config=None) ("FP8 WK weights are upcasted to BF16 during loading"); wq_b takes the quant_config.
    # DeepSeek-V3.2: hidden 7168, index_head_dim 128, index_n_heads 64, q_lora_rank 1536
    g = _bf16("deepseek_v3_2", "phase=decode", "layers=1", "activation_dtype=fp8")
    ind = "model.layers.0.self_attn.indexer"
    assert (g[f"{ind}.wk"].dtype, g[f"{ind}.wk"].weight_bytes) == ("bf16", 7168 * 128 * 2)
    assert (g[f"{ind}.weights_proj"].dtype, g[f"{ind}.weights_proj"].weight_bytes) == ("bf16", 7168 * 64 * 2)
    assert (g[f"{ind}.wq_b"].dtype, g[f"{ind}.wq_b"].weight_bytes) == ("fp8", 1536 * 64 * 128 * 1)
