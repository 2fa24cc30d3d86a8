"""Fused attention over a KV cache its GPU kernel does not compute in (probe p252 #1, #2).

An int8 or int4 cache (also W8A8's default int8 cache), and an fp8 one on FlashAttention-2 (a100), made fused
attention on a GPU preset fall back to the non-GPU fused model at the cache's tensor rate: llama3_8b, 16k prefill on
h100, 50.6 ms of attention with an int8 cache against 107.9 ms bf16 (FlashAttention-3) and 79.4 ms fp8. No GPU stack
computes QKᵀ or PV in int8: the cache is stored quantised and dequantised to the model's 16-bit dtype as it is read
(SGLang #10083: "dequantize to BF16/FP16 at the reading time for attention calculation"; vLLM computes in the
cache's dtype only with FlashAttention-3 over an FP8 cache). So the kernel runs at the 16-bit rate, reads K/V at the
cache's width and pays their dequantisation on the vector lanes. An NPU (no ``core.tile``) attends in int8 as before.
"""

from __future__ import annotations

import math

import pytest

from accelsim.api import simulate
from accelsim.config import load_arch
from accelsim.cost import systolic

from .attention_ops import fused_attention_op

H100, A100 = load_arch("h100"), load_arch("a100")
GQA = {"batch": 1, "heads": 32, "kv_heads": 8, "q_len": 4096, "kv_len": 4096, "head_dim": 128, "causal": True}


def _price(arch, **kw):
    return systolic.price(fused_attention_op(GQA, **kw), arch.core.systolic, arch)


def test_an_int8_cache_runs_flash3_at_the_bf16_rate_on_h100():
    bf16, fp8 = _price(H100), _price(H100, kv_cache_dtype="fp8")
    for kv in ("int8", "int4"):
        q = _price(H100, kv_cache_dtype=kv)
        d = q.details
        assert d["kernel"] == "flash3" and "flash_unsupported" not in d and d["kv_dequant"] == kv
        # the bf16 kernel's MMAs (h100.yaml: rates bf16 1, int8 2): not the int8 rate the fallback took
        assert d["rate"] == {"dtype": "bf16", "runs_as": "bf16", "multiplier": 1.0}
        # its 16-bit tile (FA3 hd 128: 128 x 128; fp8's 8-bit tile is 128 x 160) and a block's MMAs: 2 x 128·128·128
        # MACs on the 64 x 32 array at rate 1, at FlashAttention-3's 0.75 sustained share: ⌈2731.0⌉ = 2731, as bf16
        assert d["block"] == [128, 128] == bf16.details["block"]
        assert d["block_tensor_cycles"] == math.ceil(2 * 128 * 128 * 128 / (64 * 32 * 1) / 0.75) == 2731
        assert d["block_tensor_cycles"] == bf16.details["block_tensor_cycles"]
        # the dequantisation of a block's K and V: 2 x 128 keys x 128 features, 2 lane-cycles each (one
        # scale-multiply, systolic.DEQUANT_LANE_CYCLES) on h100's 512 lanes at their bf16 rate 1: 128 cycles
        assert d["block_dequant_cycles"] == math.ceil(2 * 128 * 128 * 2 / (512 * 1)) == 128
        assert d["block_softmax_cycles"] == bf16.details["block_softmax_cycles"]
        # never under the bf16 kernel's compute, nor under FlashAttention-3's fp8 path (2x rate)
        assert q.cycles >= bf16.cycles > fp8.cycles
        assert d["mac_fraction"] == bf16.details["mac_fraction"]


def test_an_fp8_cache_runs_flash2_at_the_bf16_rate_on_a100():
    # A100 datasheet: FP16 / BF16 / TF32 / INT8 / INT4 tensor rates, no FP8; FlashAttention-2 takes fp16 / bf16
    bf16 = _price(A100)
    for kv in ("fp8", "int8", "int4"):
        q = _price(A100, kv_cache_dtype=kv)
        d = q.details
        assert d["kernel"] == "flash2" and d["kv_dequant"] == kv
        # a100.yaml rates int8 2, int4 4: the fallback ran those; the kernel runs bf16
        assert d["rate"] == {"dtype": "bf16", "runs_as": "bf16", "multiplier": 1.0}
        assert d["block"] == [64, 128] and d["block_tensor_cycles"] == bf16.details["block_tensor_cycles"]
        # 2 x 128 keys x 128 features x 2 lane-cycles on a100's 512 lanes (bf16 rate 1)
        assert d["block_dequant_cycles"] == 2 * 128 * 128 * 2 // 512 == 128
        # FlashAttention-2 runs a block's softmax after its MMAs, and the dequantisation with the softmax: the
        # cycles are at least the bf16 kernel's
        assert q.cycles >= bf16.cycles


def test_an_npu_still_attends_in_int8():
    # tpu-v1 has no FlashAttention kernel (no core.tile) and an int8 datapath (rates int8 1, int16 0.25):
    # the fused model runs the int8 attention at its int8 rate, nothing dequantised
    tpu = load_arch("tpu-v1")
    d = _price(tpu, kv_cache_dtype="int8").details
    assert d["rate"] == {"dtype": "int8", "runs_as": "int8", "multiplier": 1.0}
    assert "kv_dequant" not in d and "kernel" not in d


@pytest.mark.parametrize("sets", [{"kv_cache_dtype": "int8"}, {"activation_dtype": "int8"}])
def test_llama3_int8_cache_prefill_is_no_faster_than_bf16_compute_and_says_why(sets):
    def run(**kw):
        w = {"base": "llama3_8b", "layers": 1, "seq_len": 2048, "attention": "fused", "logits": "last", **kw}
        return simulate(w, "h100", plots=False).to_dict()

    r, bf16 = run(**sets), run()
    op, ref = ({o["name"]: o for o in x["ops"]}["model.layers.0.self_attn.attention"] for x in (r, bf16))
    assert op["mapping"]["kernel"] == "flash3" and op["mapping"]["kv_dequant"] == "int8"
    assert op["mapping"]["rate"]["dtype"] == "bf16"
    assert op["compute_cycles"] >= ref["compute_cycles"]
    # the K/V blocks the CTAs read through the L2 move at int8's width, the query and output tiles at bf16's: each
    # of the kernel's kv_blocks K and V blocks (128 keys x 128 features) is one byte an element lighter than bf16's
    blocks = op["mapping"]["kv_blocks"]
    assert blocks == ref["mapping"]["kv_blocks"]
    assert ref["bytes"]["l2"] - op["bytes"]["l2"] == blocks * 2 * 128 * 128 * (2 - 1)
    notes = [n for n in r["notes"] if "fused attention op(s) of dtype int8 (K and V stored in it) run flash3 at the bf16" in n]
    assert len(notes) == 1 and notes[0].startswith("1 ")
    assert not [n for n in r["notes"] if "do not fit the modelled FlashAttention kernel" in n]
