"""Unfused attention over an int8 / int4 KV cache on a GPU preset (follow-up of merge kvint, probe p252 #1).

Before: the scores (QKᵀ) and context (PV) GEMMs reading an int8 or int4 cache ran at the GPU's int8 tensor rate
(llama3_8b on h100, 4,096-token prefill, unfused: the 64 GEMMs' spans 32.2 ms with a bf16 cache, 23.5 ms with
int8). No GPU stack computes them in int8: transformers' ``QuantizedCache`` (quanto, HQQ) hands eager attention K
and V dequantised to the model's dtype for a 16-bit ``matmul``; vLLM never runs QKᵀ in int8 either. So on a GPU the
GEMMs run at the 16-bit ``out_dtype``'s rate, read K / V at the cache's width and dequantise them on the vector
lanes, as the fused kernel does (cost.attention.dequantised, the one rule). That is a lower bound (probe p262 #1):
QuantizedCache dequantises the whole cache to 16 bits each step and eager attention moves 16-bit K and V, which is
not modelled, and the run's note says so. An NPU (tpu-v1, edge-npu) still runs them
in int8. The dequantisation's FLOPs (a multiply-add an element of the cache as stored, once, fused and unfused:
probe p262 #3) count in ``computed_flops`` and the energy (``mapping.dequant_flops``, energy.model.reduce_flops).
"""

from __future__ import annotations

import math

import pytest

from accelsim.api import simulate
from accelsim.builders.micro import AttentionParams, attention
from accelsim.config import load_arch
from accelsim.cost import systolic
from accelsim.energy.model import executed_flops

from .attention_ops import fused_attention_op

H100 = load_arch("h100")
GQA = {"batch": 1, "heads": 32, "kv_heads": 8, "q_len": 4096, "kv_len": 4096, "head_dim": 128, "causal": True}


def _gemms(**kw):
    graph = attention(AttentionParams(**{"attention": "unfused", "dtype": "bf16", **GQA, **kw}))
    return {op.name: op for op in graph.ops if op.name in ("scores", "context")}


def _price(op, arch=H100):
    return systolic.price(op, arch.core.systolic, arch)


@pytest.mark.parametrize("kv", ["int8", "int4"])
@pytest.mark.parametrize("name", ["scores", "context"])
def test_the_gemms_run_at_the_bf16_rate_reading_the_cache_narrow(kv, name):
    q, ref = _price(_gemms(kv_cache_dtype=kv)[name]), _price(_gemms()[name])
    d, r = q.details, ref.details
    # h100.yaml: tensor rates bf16 1, int8 2; the GEMM runs bf16's, not int8's 2x
    assert d["rate"] == {"dtype": "bf16", "runs_as": "bf16", "multiplier": 1.0} and d["kv_dequant"] == kv
    # the same tiles and, per tile, the same MMA folds as the bf16 cache's GEMM (the main loop, tile less fixed)
    assert d["tile"] == r["tile"] and d["k_slice"] == r["k_slice"] and d["output_tiles"] == r["output_tiles"]
    assert d["tile_cycles"] - d["fixed_cycles"] == r["tile_cycles"] - r["fixed_cycles"]
    # B (K or V) stored a byte an element (an int4 activation occupies a byte: units.DTYPE_BYTES), A and C bf16's 2
    assert d["b_bytes_per_element"] == 1 and "c_bytes_per_element" not in d
    # each tile dequantises its B panel, tn x k_slice elements, 2 lane-cycles each (systolic.DEQUANT_LANE_CYCLES) on
    # h100's 512 lanes at bf16's rate 1 (its time); its FLOPs, DEQUANT_FLOPS = 2 (a multiply-add), count once an
    # element of K or V as the cache stores it (probe p262 #3; before, once a tile's B panel: 2 x output_tiles x tn x
    # k_slice, 128x this): batch 1 x 8 KV heads x 4,096 keys x 128 features = 4,194,304 elements
    tn, k = d["tile"][1], d["k_slice"]
    assert d.get("cluster", 1) == 1
    assert d["dequant_cycles"] == math.ceil(tn * k * 2 / (512 * 1))
    assert d["dequant_flops"] == 2 * 1 * 8 * 4096 * 128 == 8_388_608


def test_scores_tile_by_hand():
    # scores: m = n = 4096, k = 128, 32 heads (repeat_kv's copies: one GEMM a query head); cuBLAS-like 128 x 256
    # tiles (h100.yaml's first shape, filling the 132 SMs): 32 x 32 x 16 = 16,384 tiles, a 256 x 128 B panel each
    d = _price(_gemms(kv_cache_dtype="int8")["scores"]).details
    assert d["tile"] == [128, 256] and d["output_tiles"] == 32 * (4096 // 128) * (4096 // 256) == 16384
    assert d["dequant_cycles"] == 256 * 128 * 2 // 512 == 128
    # its FLOPs: the K cache's 8 x 4,096 x 128 elements once each, not each tile's panel (2 x 16,384 x 256 x 128 =
    # 1,073,741,824 before probe p262 #3: every KV head's keys counted once a query head and once a tile row)
    assert d["dequant_flops"] == 2 * 8 * 4096 * 128 == 8_388_608


def test_unfused_decode_counts_the_dequant_flops_of_the_fused_kernel():
    # probe p262 #3: decode, batch 16, 32 query heads over 8 KV heads, 8,192 cached keys of 128 features. The cache
    # holds 16 x 8 x 8,192 x 128 = 134,217,728 elements each of K and V; dequantised once each at 2 FLOPs (a
    # multiply-add): 268,435,456 a GEMM, 536,870,912 the two, as the fused kernel counts (one pass a KV head,
    # GQA-packed). Before: 4x, each KV head's cache once a query head (2,147,483,648)
    decode = {**GQA, "batch": 16, "q_len": 1, "kv_len": 8192, "causal": False}
    gemms = _gemms(kv_cache_dtype="int8", **decode)
    flops = {name: _price(op).details["dequant_flops"] for name, op in gemms.items()}
    assert flops == {"scores": 2 * 16 * 8 * 8192 * 128, "context": 2 * 16 * 8 * 8192 * 128}
    assert sum(flops.values()) == 536_870_912
    assert _price(fused_attention_op(decode, kv_cache_dtype="int8")).details["dequant_flops"] == 536_870_912


def test_eager_gqa_counts_the_cache_not_repeat_kvs_copies():
    # llama3_8b (32 query heads, 8 KV heads, head_dim 128), one layer, batch 8 decode over 8,192 cached keys: the
    # scores and context GEMMs read repeat_kv's 4x copies (8 x 32 x 8,193 x 128 elements) of the 8 x 8 x 8,193 x 128
    # stored elements (8,192 cached + the step's own key); the dequantisation counts the stored ones, 2 FLOPs each
    w = {"base": "llama3_8b", "layers": 1, "batch": 8, "phase": "decode", "kv_len": 8192, "attention": "unfused",
         "kv_cache_dtype": "int8"}
    ops = {o["name"]: o for o in simulate(w, "h100", plots=False).to_dict()["ops"]}
    for leaf in ("scores", "context"):
        assert ops[f"model.layers.0.self_attn.{leaf}"]["mapping"]["dequant_flops"] == 2 * 8 * 8 * 8193 * 128


def test_a_narrow_cache_gemm_moves_the_b_panels_at_a_byte_an_element():
    def run(kv):
        w = {"base": "llama3_8b", "layers": 1, "seq_len": 2048, "attention": "unfused", "logits": "last",
             "kv_cache_dtype": kv}
        return {o["name"]: o for o in simulate(w, "h100", plots=False).to_dict()["ops"]}

    q, ref = run("int8"), run("bf16")
    for leaf in ("scores", "context"):
        op, r = q[f"model.layers.0.self_attn.{leaf}"], ref[f"model.layers.0.self_attn.{leaf}"]
        m = op["mapping"]
        assert m["tile"] == r["mapping"]["tile"] and m["k_slice"] == r["mapping"]["k_slice"]
        # the L2 bytes: each tile's tm x k A panel (Q or P) at bf16's 2 B as before, its tn x k B panel (K or V)
        # at 1 B, not 2: one byte lighter an element of every tile's B panel
        tn, k = m["tile"][1], m["k_slice"]
        assert r["bytes"]["l2"] - op["bytes"]["l2"] == m["output_tiles"] * tn * k * (2 - 1)
        # its executed FLOPs (computed_flops, energy) add the dequantisation's
        assert executed_flops(op) - executed_flops(r) == m["dequant_flops"] > 0


def test_npus_and_an_fp8_cache_keep_their_dtype():
    # tpu-v1: no core.tile, an int8 datapath (rates int8 1): the GEMMs stay int8, nothing dequantised
    tpu = load_arch("tpu-v1")
    for op in _gemms(kv_cache_dtype="int8").values():
        d = _price(op, tpu).details
        assert d["rate"]["dtype"] == "int8" and "kv_dequant" not in d and "dequant_flops" not in d
    # an fp8 cache on h100 (rates fp8 2) is not an integer cache: its GEMMs keep fp8 (not changed here)
    for op in _gemms(kv_cache_dtype="fp8").values():
        d = _price(op).details
        assert d["rate"] == {"dtype": "fp8", "runs_as": "fp8", "multiplier": 2.0} and "kv_dequant" not in d


def test_w8a8_linears_keep_the_int8_rate_and_the_run_says_why():
    w = {"base": "llama3_8b", "layers": 1, "seq_len": 2048, "attention": "unfused", "logits": "last",
         "activation_dtype": "int8"}
    r = simulate(w, "h100", plots=False).to_dict()
    ops = {o["name"]: o for o in r["ops"]}
    # a W8A8 q_proj: int8 weights and activations, the int8 tensor rate (h100.yaml int8 2), no cache read
    q_proj = ops["model.layers.0.self_attn.q_proj"]["mapping"]
    assert q_proj["rate"]["dtype"] == "int8" and "kv_dequant" not in q_proj
    # its default int8 cache: the scores and context GEMMs at bf16, with one note counting the two
    for leaf in ("scores", "context"):
        m = ops[f"model.layers.0.self_attn.{leaf}"]["mapping"]
        assert m["rate"]["dtype"] == "bf16" and m["kv_dequant"] == "int8"
    notes = [n for n in r["notes"] if "op(s) of dtype int8 (unfused attention's scores / context GEMMs" in n]
    assert len(notes) == 1 and notes[0].startswith("2 ")
    # and says what it models: K / V at the cache's width, a lower bound on transformers' QuantizedCache, which
    # dequantises the whole cache to bf16 each step (probe p262 #1: the note claimed that was what ran)
    assert "a lower bound" in notes[0] and "dequantises the whole cache" in notes[0] and "not modelled" in notes[0]


def test_fused_attention_counts_its_dequant_flops():
    # FlashAttention-3 on h100 over an int8 cache: every K / V block a CTA loads, 2 tensors x 128 keys x 128
    # features, is dequantised at 2 FLOPs an element (merge kvint priced its cycles, not its FLOPs)
    op = fused_attention_op(GQA, kv_cache_dtype="int8")
    d = _price(op).details
    assert d["block"] == [128, 128]
    assert d["dequant_flops"] == 2 * d["kv_blocks"] * 2 * 128 * 128
    assert "dequant_flops" not in _price(fused_attention_op(GQA)).details
    row = {"unit": "core*.systolic0", "macs": op.macs, "flops": op.flops, "mapping": d}
    assert executed_flops(row) == op.flops * d["mac_fraction"] + d["dequant_flops"]
