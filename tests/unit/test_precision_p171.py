"""Quantised activations (W8A8, W4A4) under builders/precision.py: what stays 16-bit (probe p171).

Only the quantised GEMMs read 8- or 4-bit inputs; they write the model's 16-bit dtype (vLLM's Fp8LinearMethod:
``out_dtype = torch.get_default_dtype()``), and every other op (norms, RoPE, residual adds, SiLU·mul, softmax), the
embedding table, the norm weights, the biases and the untied lm_head stay 16-bit (vLLM's Fp8Config.get_quant_method
quantises LinearBase / FusedMoE / Attention only; ModelOpt FP8 / NVFP4 exports exclude lm_head).
"""

from __future__ import annotations

from accelsim.builders import build_workload
from accelsim.config import load_arch, load_workload

# Llama-3-8B (hidden 4096, 32 heads of 128, 8 KV heads, intermediate 14336, vocab 128,256, 32 layers, untied head):
# q/o 4096·4096 each, k/v 4096·1024 each, gate/up/down 4096·14336 each
L3_LINEAR = 32 * (4096 * 4096 * 2 + 4096 * 1024 * 2 + 3 * 4096 * 14336)  # 6,979,321,856
L3_TABLE = 128256 * 4096  # the embedding table, and lm_head: 525,336,576 each
L3_NORMS = 65 * 4096  # 2 RMSNorms a layer and the final one: 266,240


def _llama3(*sets):
    w = load_workload("llama3_8b", ["phase=decode", "dtype=bf16", *sets])
    return build_workload(w.model, w.params)


def _priced(graph, name, arch):
    from accelsim.cost import systolic
    return systolic.price(graph[name], arch.core.systolic, arch)


def test_w8a8_keeps_lm_head_embedding_and_norms_in_bf16():
    g = _llama3("activation_dtype=fp8")
    # linears 1 B a weight (fp8), the head, the table and the norms 2 B (bf16): 9,081,200,640 B, the footprint fp8
    # weights with bf16 compute had already (probe p171 #1: 8,030,261,248 B, a byte for every parameter, before)
    assert g.weight_bytes == L3_LINEAR * 1 + 2 * L3_TABLE * 2 + L3_NORMS * 2 == 9_081_200_640
    assert g.weight_bytes == _llama3("weight_dtype=fp8").weight_bytes
    head = g["lm_head"]
    assert head.dtype == "bf16" and head.weight_bytes == L3_TABLE * 2 and "dequant" not in head.attrs
    assert g["model.embed_tokens"].dtype == "bf16"
    # lm_head's GEMM runs at the bf16 tensor rate (H100: 989.4 TFLOPS dense), not fp8's 2x
    rate = _priced(g, "lm_head", load_arch("h100")).details["rate"]
    assert rate == {"dtype": "bf16", "runs_as": "bf16", "multiplier": 1.0}
    # the decoder's GEMMs still run at the fp8 rate (nv_h100_datasheet: fp8 1978.9 TFLOPS = 2 x bf16)
    q = g["model.layers.0.self_attn.q_proj"]
    assert q.dtype == "fp8" and q.weight_bytes == 4096 * 4096
    assert _priced(g, "model.layers.0.self_attn.q_proj", load_arch("h100")).details["rate"]["multiplier"] == 2.0


def test_w4a4_fp4_packs_the_decoders_linears_only():
    g = _llama3("dtype=fp4")
    # MXFP4 (OCP MX v1.0: 32 fp4 elements and one 8-bit scale, 4.25 bits) for the linears; head, table, norms bf16:
    # 6,979,321,856 · 17/32 = 3,707,764,736 + 2,101,346,304 + 532,480 = 5,809,643,520 (before: 4,512,452,608)
    assert g.weight_bytes == L3_LINEAR * 17 // 32 + 2 * L3_TABLE * 2 + L3_NORMS * 2 == 5_809_643_520
    assert g["lm_head"].dtype == "bf16" and g["lm_head"].weights[0].dtype is None
    assert _priced(g, "lm_head", load_arch("b200")).details["rate"]["runs_as"] == "bf16"


def test_w8a8_non_gemm_ops_and_gemm_outputs_stay_16_bit():
    g = _llama3("activation_dtype=fp8", "kv_cache_dtype=bf16")
    layer = "model.layers.0."
    # the residual stream and what is not a weight GEMM: bf16, 2 B an element (probe p171 #2: fp8 before)
    for name in ("add_attn", "add_mlp", "self_attn.q_rope", "self_attn.k_rope", "self_attn.softmax", "mlp.act_fn"):
        assert g[layer + name].dtype == "bf16", name
    assert g[layer + "add_mlp"].out_bytes == 4096 * 2  # one token's hidden state, bf16
    # a quantised GEMM reads fp8 and writes bf16: q_proj's output 4096 x 2 B, gate_proj's 14336 x 2 B
    for name, width in (("self_attn.q_proj", 4096), ("mlp.gate_proj", 14336), ("mlp.down_proj", 4096)):
        op = g[layer + name]
        assert op.dtype == "fp8" and op.out_dtype == "bf16" and op.out_bytes == width * 2, name
    # the per-token quantisation of a GEMM's input is fused into its producer when only quantised GEMMs read it:
    # the RMSNorms before q/k/v and gate/up and the SiLU·mul before down_proj read bf16 and write fp8 (1 B)
    for name, width in (("input_layernorm", 4096), ("post_attention_layernorm", 4096), ("mlp.mul", 14336)):
        op = g[layer + name]
        assert op.dtype == "bf16" and op.out_dtype == "fp8" and op.out_bytes == width, name
    # act_fn's output is mul's input (a non-GEMM): bf16
    assert g[layer + "mlp.act_fn"].out_dtype == "bf16"


def test_w8a8_prefill_residual_bytes_are_the_bf16_runs():
    from accelsim.api import simulate

    def run(**kw):
        w = {"model": "llama2_7b", "phase": "prefill", "seq_len": 512, "layers": 1, "dtype": "bf16", **kw}
        return {op["name"]: op for op in simulate(w, "h100", cache_residency=False).to_dict()["ops"]}

    bf16, fp8 = run(), run(activation_dtype="fp8", kv_cache_dtype="bf16")
    # the residual adds read two 512 x 4096 bf16 tensors and write one: 3 x 4,194,304 B, whatever the GEMMs' dtype
    for name in ("model.layers.0.add_attn", "model.layers.0.add_mlp"):
        assert fp8[name]["bytes"]["hbm"] == bf16[name]["bytes"]["hbm"] == 3 * 512 * 4096 * 2, name


def test_fp8_weights_with_fp4_activations_run_at_the_fp8_rate():
    # B200 datasheet: FP8/FP6 4.5 PFLOPS dense, FP4 9 PFLOPS; an MMA with an 8-bit operand runs at most at the
    # fp8 rate (probe p171 #5: priced at fp4's 4x before, with the fp8 weights "dequantised" to fp4)
    g = _llama3("weight_dtype=fp8", "activation_dtype=fp4")
    op = g["model.layers.0.mlp.gate_proj"]
    assert op.dtype == "fp8" and "dequant" not in op.attrs and op.weight_bytes == 4096 * 14336
    assert _priced(g, "model.layers.0.mlp.gate_proj", load_arch("b200")).details["rate"] == {
        "dtype": "fp8", "runs_as": "fp8", "multiplier": 2.0}
    # W4A8: int4 weights (½ B + an fp16 scale per 128) dequantised to the fp8 compute
    w4a8 = _llama3("weight_dtype=int4", "activation_dtype=fp8")["model.layers.0.mlp.gate_proj"]
    assert w4a8.dtype == "fp8" and w4a8.attrs["dequant"] == "int4"
    assert w4a8.weight_bytes == 4096 * 14336 // 2 + 4096 * 14336 // 128 * 2


def test_moe_router_stays_16_bit_under_int4_weights():
    # probe p171 #6: vLLM builds every MoE gate unquantised; Mixtral's router, 4096 x 8 in bf16 = 65,536 B (16,912 B
    # as int4 with fp16 scales per 128 before: 32768 · 0.5 + 256 · 2)
    w = load_workload("mixtral_8x7b", ["phase=decode", "layers=1", "dtype=bf16", "weight_dtype=int4"])
    g = build_workload(w.model, w.params)
    gate = g["model.layers.0.block_sparse_moe.gate"]
    assert gate.weight_bytes == 4096 * 8 * 2 and "dequant" not in gate.attrs
    # its experts are int4
    w1 = next(op for op in g.ops if op.name.endswith(".w1"))
    assert w1.attrs["dequant"] == "int4"


def test_w8a8_moe_dispatches_fp8_rows_and_combines_bf16():
    # DeepEP's setting ("FP8 dispatching and BF16 combining"): the dispatch writes the experts' quantised input
    w = load_workload("mixtral_8x7b", ["phase=decode", "layers=1", "dtype=bf16", "activation_dtype=fp8",
                                       "tensor_parallel=2", "expert_parallel=2"])
    g = build_workload(w.model, w.params)
    moe = "model.layers.0.block_sparse_moe."
    assert g[moe + "dispatch"].out_dtype == "fp8"
    assert g[moe + "all_to_all_dispatch"].dtype == "fp8"
    assert g[moe + "all_to_all_combine"].dtype == "bf16"
    assert g[moe + "gate"].dtype == "bf16"  # the router, unquantised


def test_w8a8_int8_biases_stay_16_bit():
    # Qwen2's q/k/v biases: vLLM's cutlass_scaled_mm adds a bias of its out_dtype (bf16), 2 B each, not int32
    cfg = {"architectures": ["Qwen2ForCausalLM"], "hidden_size": 256, "intermediate_size": 512,
           "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 1, "vocab_size": 100}
    g = build_workload("hf", {"config": cfg, "phase": "decode", "kv_len": 16, "dtype": "bf16",
                              "activation_dtype": "int8"})
    q = g["model.layers.0.self_attn.q_proj"]
    assert q.dtype == "int8" and q.out_dtype == "bf16"
    bias = next(w for w in q.weights if w.name.endswith("bias"))
    assert bias.nbytes(q.dtype) == 256 * 2  # 256 outputs x 2 B
    assert q.weight_bytes == 256 * 256 * 1 + 256 * 2


def test_group_size_minus_one_is_one_scale_per_row():
    # probe p171 #7: GPTQ / AWQ configs write "group_size": -1 for per-channel quantisation; a generic "greater than
    # 0" refusal before. gate_proj: 14336 rows of K = 4096, int4: 14336 · 4096 / 2 B + one fp16 scale a row
    g = _llama3("layers=1", "weight_dtype=int4", "quant_group_size=-1")
    assert g["model.layers.0.mlp.gate_proj"].weight_bytes == 14336 * 4096 // 2 + 14336 * 2
    # the same as any group at least as long as every K (down_proj's 14336 the longest; docs/configuration.md: a
    # group longer than K is one scale per row)
    assert g.weight_bytes == _llama3("layers=1", "weight_dtype=int4", "quant_group_size=16384").weight_bytes


def test_other_non_positive_group_sizes_are_one_line_errors(tmp_path, capsys):
    from accelsim.cli import main
    code = main(["run", "-w", "llama3_8b", "-a", "h100", "--set", "workload.weight_dtype=int4", "--set",
                 "workload.quant_group_size=0", "--no-plots", "-q", "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert err == ("accelsim: error: --set: workload.quant_group_size: expected a positive number of weights per "
                   "scale, or -1 for one scale per row (GPTQ / AWQ's per-channel group_size) (got 0)")
