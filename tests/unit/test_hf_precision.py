"""Mixed precision: weight, activation and KV-cache dtypes (builders/precision.py, units.packed_bytes)."""

from __future__ import annotations

import pytest

from accelsim.builders import build_workload
from accelsim.cli import main
from accelsim.config import load_workload
from accelsim.errors import ConfigError
from accelsim.units import packed_bytes

# LLaMA-2-7B: 6,738,415,616 params = embeddings 32000·4096 + 65 RMSNorm weights of 4096 + the linear layers
PARAMS = 6_738_415_616
EMBED_NORMS = 32000 * 4096 + 65 * 4096
LINEAR = PARAMS - EMBED_NORMS
HEAD = 32000 * 4096  # lm_head: kept in the compute dtype under a weight-only dtype (GPTQ / AWQ checkpoints keep it)
DECODER = LINEAR - HEAD  # the decoder's linear layers, which a weight_dtype quantises


def _decode(**kw):
    return build_workload("llama2_7b", {"phase": "decode", "kv_len": 1024, "dtype": "bf16", **kw})


def test_packed_bytes():
    assert packed_bytes(7, "int4") == 4  # ⌈7 · 4 / 8⌉
    assert packed_bytes(256, "int4", 128) == 128 + 2 * 2  # two fp16 scales
    # MXFP4 (OCP Microscaling v1.0): 32 fp4 elements share one 8-bit E8M0 scale, 4.25 bits a weight
    assert packed_bytes(256, "fp4", 32) == 128 + 8 * 1
    assert packed_bytes(64, "int8", 32) == 64 + 2 * 2
    assert packed_bytes(10, "bf16") == 20
    with pytest.raises(ValueError, match="unknown dtype"):
        packed_bytes(1, "int3")


def test_w4a16_reads_about_a_quarter_of_the_weight_bytes():
    bf16, w4 = _decode(), _decode(weight_dtype="int4")
    assert bf16.weight_bytes == 2 * PARAMS
    # the decoder's int4 linears: ½ byte + one fp16 scale per 128 weights; the head, embeddings and norms stay bf16
    assert w4.weight_bytes == DECODER // 2 + DECODER // 128 * 2 + 2 * HEAD + 2 * EMBED_NORMS
    assert 0.28 < w4.weight_bytes / bf16.weight_bytes < 0.29  # 3,864,010,752 / 13,476,831,232
    assert w4.params == PARAMS


def test_w4a16_op_dtypes_and_fused_dequantisation():
    g, bf16 = _decode(weight_dtype="int4"), _decode()
    q = g["model.layers.0.self_attn.q_proj"]
    assert q.dtype == "bf16" and q.weights[0].dtype == "int4" and q.weights[0].group_size == 128
    assert q.attrs["dequant"] == "int4"  # the GEMM dequantises in registers: no op, launch or round trip of its own
    assert len(g.ops) == len(bf16.ops) and not any(op.fn == "dequantize" for op in g.ops)
    assert g["model.embed_tokens"].weights[0].dtype is None  # embeddings keep the activation dtype
    assert "dequant" not in g["model.layers.0.self_attn.scores"].attrs  # activation × activation: nothing to expand


def _priced(graph, name, arch):
    from accelsim.cost import systolic
    return systolic.price(graph[name], arch.core.systolic, arch)


def test_fused_dequant_is_vector_work_overlapped_with_the_mma():
    from accelsim.config import load_arch
    a100 = load_arch("a100")
    # decode GEMV: each output tile expands its B panel, tn × k_slice weights, one packed-half FMA each: 2 of the
    # SM's 512 FLOP lanes per weight (78 TFLOPS non-tensor fp16 = 512 FLOP/clk/SM, 256 half FMAs)
    d = _priced(_decode(weight_dtype="int4"), "model.layers.0.self_attn.q_proj", a100).details
    tn, k_slice = d["tile"][1], d["k_slice"]
    assert d["dequant_cycles"] == -(-tn * k_slice * 2 // 512)
    assert d["tile_cycles"] >= d["dequant_cycles"] + d["fixed_cycles"]
    # prefill (512 tokens): the 128-row tile's MMA, ≥ 128 · 128 · 4096 / 1024 MACs/clk = 65536 cycles, hides the
    # 128 · 4096 · 2 / 512 = 2048 cycles of dequantisation: the GEMM costs what the bf16 one does
    pre = {"phase": "prefill", "seq_len": 512, "dtype": "bf16"}
    w4 = _priced(build_workload("llama2_7b", {**pre, "weight_dtype": "int4"}), "model.layers.0.mlp.gate_proj", a100)
    bf = _priced(build_workload("llama2_7b", pre), "model.layers.0.mlp.gate_proj", a100)
    assert 0 < w4.details["dequant_cycles"] < bf.details["tile_cycles"]
    # same main loop; the prologue's first K-stage carries the packed B panel: 128 rows x 32 x (2 - (0.5 + 2/128))
    # = 6080 fewer bytes at the SM's share of L2 (5120 / 108 = 47.4 B/clk): 128 cycles less per tile
    main = w4.details["tile_cycles"] - w4.details["fixed_cycles"]
    assert main == bf.details["tile_cycles"] - bf.details["fixed_cycles"]
    assert bf.details["fixed_cycles"] - w4.details["fixed_cycles"] == 128


def test_fused_dequant_on_a_systolic_preset():
    from accelsim.config import load_arch
    tpu = load_arch("tpu-v4")
    # no thread-block tiles: each weight is expanded once per GEMM on the core's 2048-lane vector unit (8 x 128 x 2
    # ALUs: probe p267 #1; 1024 lanes and 32768 cycles before), overlapped with the MXUs: 4096 · 4096 weights · 2
    # lane-cycles / 2048 lanes = 16384 cycles
    p = _priced(_decode(weight_dtype="int4"), "model.layers.0.self_attn.q_proj", tpu)
    assert p.details["dequant_cycles"] == 4096 * 4096 * 2 // 2048 and p.cycles >= 16384


def test_w4a16_decode_step_reads_packed_weights_and_is_faster():
    from accelsim.api import simulate

    def run(execution, **kw):
        # without L2 residency: which activations the L2 keeps depends on the weight bytes streamed between their
        # producer and reader (mapping/l2resident.py), so the activations' HBM bytes would differ too
        return simulate({"model": "llama2_7b", "phase": "decode", "kv_len": 1024, "dtype": "bf16", **kw}, "a100",
                        execution=execution, cache_residency=False).to_dict()

    for execution in ("eager", "cuda_graph"):
        bf16, w4 = run(execution), run(execution, weight_dtype="int4")
        # every decoder linear reads ½ byte + 2/128 bytes of fp16 scale per weight instead of 2 bytes (the head 2
        # bytes in both); nothing else moves
        assert bf16["bytes"]["hbm"] - w4["bytes"]["hbm"] == DECODER * 2 - DECODER // 2 - DECODER // 128 * 2
        assert len(w4["ops"]) == len(bf16["ops"])  # no dequantisation kernels to launch
        assert w4["seconds"] < bf16["seconds"]
    # with CUDA graphs the step is device time, dominated by reading the weights: much faster with int4
    assert w4["seconds"] < 0.8 * bf16["seconds"]


def test_w8a8_fp8_gemm_runs_at_the_fp8_rate():
    from accelsim.config import load_arch
    h100 = load_arch("h100")
    pre = {"phase": "prefill", "seq_len": 2048, "dtype": "bf16"}
    fp8 = build_workload("llama2_7b", {**pre, "weight_dtype": "fp8", "activation_dtype": "fp8"})
    op = fp8["model.layers.0.mlp.gate_proj"]
    assert op.dtype == "fp8" and "dequant" not in op.attrs  # weights in the compute dtype: 1 byte each
    assert op.weights[0].nbytes(op.dtype) == 11008 * 4096
    d = _priced(fp8, "model.layers.0.mlp.gate_proj", h100).details
    # nv_h100_datasheet: fp8 tensor 1978.9 TFLOPS dense = 2 × bf16's 989.4
    assert d["rate"] == {"dtype": "fp8", "runs_as": "fp8", "multiplier": 2.0}
    # a 128 × 256 tile over K = 4096 on the SM's 64 × 32 array: 128 · 256 · 4096 / (64 · 32 · 2) = 32768 cycles of
    # MMA at the fp8 rate (65536 at bf16's); fill and drain add a few percent
    tm, tn = d["tile"]
    mma = tm * tn * 4096 // (64 * 32 * 2)
    assert mma <= d["tile_cycles"] - d["fixed_cycles"] < 1.1 * mma
    bf = _priced(build_workload("llama2_7b", pre), "model.layers.0.mlp.gate_proj", h100).details
    assert bf["tile"] == d["tile"] and bf["tile_cycles"] - bf["fixed_cycles"] >= 2 * mma


def test_activation_dtype_alone_is_w8a8():
    # weight_dtype defaults to the activation dtype (docs/configuration.md, llama2_*'s mixed precision): setting
    # activation_dtype: fp8 stores the linears' weights in fp8 too, 4096 · 4096 one-byte weights for q_proj with
    # nothing to dequantise, the same graph as weight_dtype: fp8 with activation_dtype: fp8
    a8 = _decode(activation_dtype="fp8")
    q = a8["model.layers.0.self_attn.q_proj"]
    assert q.dtype == "fp8" and "dequant" not in q.attrs
    assert q.weight_bytes == 4096 * 4096
    assert a8.weight_bytes == _decode(activation_dtype="fp8", weight_dtype="fp8").weight_bytes
    assert a8.meta["weight_dtype"] == "fp8"


def test_w4a4_fp4_stores_its_weights_packed_and_streams_them_at_half_a_byte():
    # W4A4: compute and weights in fp4. The weights are stored two per byte with one 8-bit E8M0 scale per 32 (MXFP4,
    # OCP Microscaling Formats v1.0 section 5: the default group of fp4); the GEMM does not dequantise (its compute
    # is fp4)
    g = _decode(dtype="fp4")
    q = g["model.layers.0.self_attn.q_proj"]
    assert q.dtype == "fp4" and q.weights[0].dtype == "fp4" and "dequant" not in q.attrs
    assert q.weight_bytes == 4096 * 4096 // 2 + 4096 * 4096 // 32 * 1
    # the decoder's linears only: lm_head, the embedding table and the norms stay in the 16-bit model dtype (bf16,
    # 2 B each), as NVFP4 checkpoints exclude lm_head and vLLM quantises LinearBase / FusedMoE only. (This asserted
    # LINEAR // 2 + LINEAR // 32 + 1 * EMBED_NORMS before probe p171 #1: the head packed to fp4 and the embedding
    # and norms at a byte each, which no W4A4 checkpoint or engine does.)
    assert g.weight_bytes == DECODER // 2 + DECODER // 32 * 1 + 2 * HEAD + 2 * EMBED_NORMS
    # the GPU tile model streams the packed bytes: ½ + 1/32 = 0.53125 bytes per weight (MXFP4's 4.25 bits)
    from accelsim.config import load_arch
    d = _priced(g, "model.layers.0.self_attn.q_proj", load_arch("b200")).details
    assert d["b_bytes_per_element"] == pytest.approx(0.5 + 1 / 32)
    # NVFP4 (16 FP4 elements share an FP8 E4M3 scale): quant_group_size 16, 0.5625 bytes a weight
    nv = _decode(dtype="fp4", quant_group_size=16)["model.layers.0.self_attn.q_proj"]
    assert nv.weight_bytes == 4096 * 4096 // 2 + 4096 * 4096 // 16 * 1
    # int4 keeps GPTQ / AWQ's group of 128 (one fp16 scale each)
    w4 = _decode(weight_dtype="int4")["model.layers.0.self_attn.q_proj"]
    assert w4.weights[0].group_size == 128


def test_a_group_longer_than_k_is_one_scale_per_row():
    # groups run along each row's K and do not span rows: q_proj's 4096 rows of K = 4096 with quant_group_size 8192
    # keep one fp16 scale per row (4096 x 2 B), not 4096 · 4096 / 8192 = 2048 scales; K = 11008 (down_proj) in groups
    # of 128 is 86 whole groups a row, 4096 rows
    g = _decode(weight_dtype="int4", quant_group_size=8192)
    assert g["model.layers.0.self_attn.q_proj"].weight_bytes == 4096 * 4096 // 2 + 4096 * 2
    from accelsim.ir import Weight
    assert Weight("w", (4096, 11008), dtype="int4", group_size=128).nbytes("bf16") == 4096 * 11008 // 2 + 4096 * 86 * 2
    # a row of K = 100 in groups of 64: 2 groups (the last partial), 3 rows: 6 fp16 scales, 150 packed bytes
    assert Weight("w", (3, 100), dtype="int4", group_size=64).nbytes("bf16") == 150 + 6 * 2


def test_fp8_kv_cache_halves_kv_bytes():
    bf16, fp8 = _decode(), _decode(kv_cache_dtype="fp8")
    # 32 layers × K and V × 32 heads × 1025 tokens × 128, 2 bytes → 1 byte
    assert bf16.meta["kv_cache_bytes"] == 32 * 2 * 32 * 1025 * 128 * 2
    assert fp8.meta["kv_cache_bytes"] == bf16.meta["kv_cache_bytes"] // 2
    assert fp8["model.layers.0.self_attn.scores"].dtype == "fp8"
    assert fp8["model.layers.0.self_attn.k_append"].dtype == "fp8"
    assert fp8["model.layers.0.self_attn.softmax"].dtype == "bf16"
    # the readers that compute write activations: the scores (softmax's input) and the context (the output
    # projection's) in bf16, 1 x 32 heads x 1025 keys x 2 B and 32 x 128 x 2 B per sample; the append writes the cache
    scores, context = fp8["model.layers.0.self_attn.scores"], fp8["model.layers.0.self_attn.context"]
    assert scores.out_dtype == context.out_dtype == "bf16" and scores.out_bytes == 32 * 1025 * 2
    assert fp8["model.layers.0.self_attn.k_append"].out_dtype == "fp8"
    fused = _decode(kv_cache_dtype="fp8", attention="fused")["model.layers.0.self_attn.attention"]
    assert fused.dtype == "fp8" and fused.out_dtype == "bf16" and fused.out_bytes == 32 * 128 * 2


def test_simulated_bytes_follow_the_dtypes():
    from accelsim.api import simulate

    def hbm(**kw):
        return simulate({"model": "llama2_7b", "phase": "decode", "dtype": "bf16", **kw}, "h100").to_dict()["bytes"]["hbm"]

    assert hbm(kv_len=1024, weight_dtype="int4") < 0.31 * hbm(kv_len=1024)  # weights 28.7 % (the bf16 head)
    kv = 32 * 2 * 32 * 8192 * 128  # one byte per cached element saved at kv_len 8192
    saved = hbm(kv_len=8192) - hbm(kv_len=8192, kv_cache_dtype="fp8")
    assert kv <= saved < 1.05 * kv


def test_defaults_leave_the_graph_alone():
    g = _decode()
    assert all(op.dtype == "bf16" for op in g.ops) and not any(op.fn == "dequantize" for op in g.ops)


def test_hf_takes_the_same_fields():
    cfg = {"architectures": ["MistralForCausalLM"], "hidden_size": 256, "intermediate_size": 512,
           "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 2, "vocab_size": 100}
    g = build_workload("hf", {"config": cfg, "seq_len": 4, "dtype": "bf16", "weight_dtype": "int8",
                              "kv_cache_dtype": "fp8"})
    assert g["model.layers.0.mlp.up_proj"].weights[0].dtype == "int8"
    assert g.meta["kv_cache_bytes"] == 2 * 2 * 2 * 4 * 64  # layers × K, V × kv heads × tokens × head_dim, 1 B


def test_fp8_kv_cache_halves_the_reported_footprint():
    from accelsim.api import simulate
    cfg = {"architectures": ["MistralForCausalLM"], "hidden_size": 256, "intermediate_size": 512,
           "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 2, "vocab_size": 100}

    def kv(**kw):
        w = {"model": "hf", "config": cfg, "phase": "decode", "kv_len": 100, "dtype": "bf16", **kw}
        return simulate(w, "a100").to_dict()["memory"]["hbm"]["kv_cache"]

    # K and V · 2 layers · 2 KV heads · head_dim 256/4 = 64 · 101 tokens after the step (100 cached + the new one)
    # · 2 bytes (bf16) → 1 byte (fp8)
    assert kv() == 2 * 2 * 2 * 64 * 101 * 2
    assert kv(kv_cache_dtype="fp8") == 2 * 2 * 2 * 64 * 101 * 1


# probe p79 #3: quant_group_size sizes the scales of quantised weights only; with none it was silently ignored
_TINY = {"architectures": ["LlamaForCausalLM"], "hidden_size": 256, "intermediate_size": 512,
         "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 1, "vocab_size": 100}


def _tiny(**kw):
    return build_workload("hf", {"config": _TINY, "phase": "decode", "kv_len": 16, "dtype": "bf16", **kw})


@pytest.mark.parametrize("kw, stored", [
    ({"dtype": "bf16"}, "bf16, the compute dtype"),  # no weight_dtype: bf16 weights, no scales
    ({"dtype": "int8"}, "int8, the compute dtype"),  # W8A8 in one dtype: int8 weights stored without scales
    ({}, "in the compute dtype (workload.dtype unset: the arch's)"),
])
def test_a_group_size_no_weight_reads_is_refused_at_its_key(kw, stored):
    with pytest.raises(ConfigError) as e:
        load_workload({"model": "hf", "config": _TINY, "phase": "decode", "quant_group_size": 100, **kw})
    assert str(e.value) == (f"<input>: workload.quant_group_size: needs weight_dtype int4/int8/fp4 (a quantised weight, stored "
                            f"with a scale per group): the weights here are {stored}, stored without scales (got 100)")


def test_the_llama2_presets_refuse_a_group_size_no_weight_reads_too():
    # probe p83 #1: llama2_7b took quant_group_size 64 with bf16 weights silently (only hf refused it); with int4
    # weights it sizes their scales and is accepted
    with pytest.raises(ConfigError) as e:
        load_workload("llama2_7b", ["quant_group_size=64", "dtype=bf16"])
    assert str(e.value).endswith("workload.quant_group_size: needs weight_dtype int4/int8/fp4 (a quantised weight, "
                                 "stored with a scale per group): the weights here are bf16, the compute dtype, stored "
                                 "without scales (got 64)")
    assert load_workload("llama2_7b", ["quant_group_size=64", "weight_dtype=int4"]).params["quant_group_size"] == 64


def test_a_presets_group_size_left_unread_is_listed_not_refused():
    # gpt_oss_20b.yaml gives quant_group_size 32 for its MXFP4 experts; experts in bf16 leave it unread, which the
    # user did not write: accepted, and report.json's workload.unread names it
    w = load_workload("gpt_oss_20b", ["expert_weight_dtype=bf16", "layers=1", "seq_len=8", "dtype=bf16"])
    g = build_workload(w.model, w.params)
    assert "quant_group_size" in g.meta["unread_params"]
    assert all(w.group_size == 0 for op in g.ops for w in op.weights)  # no weight stored with scales


def test_a_group_size_is_read_with_a_quantised_weight_and_listed_unread_without():
    # int4 weights with a scale per 64: q_proj's 256 × 256 weights take 256·256/2 B + 256·(256/64) fp16 scales
    g = _tiny(weight_dtype="int4", quant_group_size=64)
    q = g["model.layers.0.self_attn.q_proj"].weights[0]
    assert q.nbytes("bf16") == 256 * 256 // 2 + 256 * (256 // 64) * 2
    assert "quant_group_size" not in g.meta["unread_params"]
    # no quantised weight and no group size: nothing reads it, and report.json's workload.unread says so
    assert "quant_group_size" in _tiny().meta["unread_params"]


def test_a_group_size_no_weight_reads_exits_2_at_its_line(tmp_path, capsys):
    # probe p79 #3's run as an experiment file: bf16 weights, quant_group_size on line 12
    path = tmp_path / "q.yaml"
    path.write_text("name: q\nworkload:\n  model: hf\n  config:\n    architectures: [LlamaForCausalLM]\n"
                    "    hidden_size: 256\n    intermediate_size: 512\n    num_attention_heads: 4\n"
                    "    num_hidden_layers: 1\n    vocab_size: 100\n  phase: decode\n  quant_group_size: 64\n"
                    "arch: h100\n")
    code = main(["run", str(path), "--no-plots", "-q", "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert err.startswith(f"accelsim: error: {path}:12: workload.quant_group_size: needs weight_dtype"), err
    assert err.endswith("(got 64)"), err
