"""Mixed precision: weight, activation and KV-cache dtypes (builders/precision.py, units.packed_bytes)."""

from __future__ import annotations

import pytest

from accelsim.builders import build_workload
from accelsim.ir import OpKind
from accelsim.units import packed_bytes

# LLaMA-2-7B: 6,738,415,616 params = embeddings 32000·4096 + 65 RMSNorm weights of 4096 + the linear layers
PARAMS = 6_738_415_616
EMBED_NORMS = 32000 * 4096 + 65 * 4096
LINEAR = PARAMS - EMBED_NORMS


def _decode(**kw):
    return build_workload("llama2_7b", {"phase": "decode", "kv_len": 1024, "dtype": "bf16", **kw})


def test_packed_bytes():
    assert packed_bytes(7, "int4") == 4  # ⌈7 · 4 / 8⌉
    assert packed_bytes(256, "int4", 128) == 128 + 2 * 2  # two fp16 scales
    assert packed_bytes(10, "bf16") == 20
    with pytest.raises(ValueError, match="unknown dtype"):
        packed_bytes(1, "int3")


def test_w4a16_reads_about_a_quarter_of_the_weight_bytes():
    bf16, w4 = _decode(), _decode(weight_dtype="int4")
    assert bf16.weight_bytes == 2 * PARAMS
    # int4 linears: ½ byte + one fp16 scale per 128 weights; embeddings and norms stay bf16
    assert w4.weight_bytes == LINEAR // 2 + LINEAR // 128 * 2 + 2 * EMBED_NORMS
    assert 0.25 < w4.weight_bytes / bf16.weight_bytes < 0.28
    assert w4.params == PARAMS


def test_w4a16_op_dtypes_and_dequantisation():
    g = _decode(weight_dtype="int4")
    q = g["model.layers.0.self_attn.q_proj"]
    assert q.dtype == "bf16" and q.weights[0].dtype == "int4" and q.weights[0].group_size == 128
    deq = g["model.layers.0.self_attn.q_proj.dequantize"]
    assert deq.kind is OpKind.ELEMENTWISE and deq.vector_elems == 4096 * 4096 and deq.flops == 2 * 4096 * 4096
    assert g["model.embed_tokens"].weights[0].dtype is None  # embeddings keep the activation dtype


def test_fp8_kv_cache_halves_kv_bytes():
    bf16, fp8 = _decode(), _decode(kv_cache_dtype="fp8")
    # 32 layers × K and V × 32 heads × 1025 tokens × 128, 2 bytes → 1 byte
    assert bf16.meta["kv_cache_bytes"] == 32 * 2 * 32 * 1025 * 128 * 2
    assert fp8.meta["kv_cache_bytes"] == bf16.meta["kv_cache_bytes"] // 2
    assert fp8["model.layers.0.self_attn.scores"].dtype == "fp8"
    assert fp8["model.layers.0.self_attn.k_append"].dtype == "fp8"
    assert fp8["model.layers.0.self_attn.softmax"].dtype == "bf16"


def test_simulated_bytes_follow_the_dtypes():
    from accelsim.api import simulate

    def hbm(**kw):
        return simulate({"model": "llama2_7b", "phase": "decode", "dtype": "bf16", **kw}, "h100").to_dict()["bytes"]["hbm"]

    assert hbm(kv_len=1024, weight_dtype="int4") < 0.3 * hbm(kv_len=1024)
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
