"""vLLM's / Sarathi-Serve's rotary_embedding_kernel walks a token's query heads in one loop and its key heads in a
second, its block sized by the query heads alone (csrc/pos_encoding_kernels.cu: block = min(num_heads x rot_dim /
2, 512), grid = tokens). The ``rope`` micro-workload's ``key_cols`` carries that split to accelsim/cost/vector.py.
Expected values are computed below from the a100 preset: HBM 2039 GB/s x 0.9 sustained, 600 ns latency; 108 SMs of
2048 resident threads."""

from __future__ import annotations

import pytest

from accelsim.builders.micro import RopeParams, rope
from accelsim.config import load_arch
from accelsim.cost import vector
from accelsim.errors import ConfigError

A100 = load_arch("a100")
HBM_BW, HBM_LAT = 2039e9 * 0.9, 600e-9


def _op(tokens, cols, key_cols=0):
    return rope(RopeParams(rows=tokens, cols=cols, key_cols=key_cols, dtype="fp16")).ops[0]


def test_gqa_shard_runs_a_full_query_loop_then_a_light_key_loop():
    # Llama-2-70B at TP 8: 8 query heads and 1 key head of 128 per GPU. Block = min(8 x 64, 512) = 512 threads
    # (4 per SM, 432 a wave). Per block: one query iteration (512 threads x 2 fp16 = 2048 B in flight) and one key
    # iteration with 64 of its 512 threads active (1/8 of the bytes), after the position load (one round trip).
    # 864 tokens = 2 full waves: 2 x (3 latencies + (1 + 1 + 1/8) x 432 x 2048 B / BW)
    seconds = 2 * (3 * HBM_LAT + (2 + 1 / 8) * 432 * 2048 / HBM_BW)
    hbm = 2 * 864 * 1152 * 2  # read and write every element once (in place)
    frac = vector.achieved_fraction(_op(864, 1152, key_cols=128), A100, hbm, passes=1)
    assert frac == pytest.approx(hbm / HBM_BW / seconds, rel=1e-9)


def test_without_the_split_one_loop_over_all_heads():
    # the same 1152 features as one loop: block = min(576, 512) = 512, two full iterations (ceil(576 / 512))
    seconds = 2 * (3 * HBM_LAT + 3 * 432 * 2048 / HBM_BW)
    hbm = 2 * 864 * 1152 * 2
    frac = vector.achieved_fraction(_op(864, 1152), A100, hbm, passes=1)
    assert frac == pytest.approx(hbm / HBM_BW / seconds, rel=1e-9)


def test_small_query_block_raises_occupancy():
    # Llama-2-7B at TP 8: 4 query heads, 4 key heads. Block = 4 x 64 = 256 threads (8 per SM, 864 a wave), one
    # full iteration per loop; one wave of 864 tokens: 3 latencies + 3 x 864 x 1024 B / BW (without the split: one
    # 512-thread block, 432 a wave, one iteration: 2 waves of 2 latencies + 2 x 432 x 2048 B / BW)
    hbm = 2 * 864 * 1024 * 2
    split = 3 * HBM_LAT + 3 * 864 * 1024 / HBM_BW
    whole = 2 * (2 * HBM_LAT + 2 * 432 * 2048 / HBM_BW)
    assert vector.achieved_fraction(_op(864, 1024, 512), A100, hbm, 1) == pytest.approx(hbm / HBM_BW / split)
    assert vector.achieved_fraction(_op(864, 1024), A100, hbm, 1) == pytest.approx(hbm / HBM_BW / whole)


def test_key_cols_must_leave_query_features():
    with pytest.raises((ConfigError, ValueError), match="key_cols"):
        RopeParams(rows=4, cols=256, key_cols=256)
    assert _op(4, 256).attrs.get("key_cols") is None  # default: today's single loop


def test_eager_rope_is_transformers_five_kernels():
    """rope_kernel "eager" builds RoPE as transformers' apply_rotary_pos_emb runs in PyTorch eager (modeling_llama:
    rotate_half(x) = cat(-x[..., d/2:], x[..., :d/2]); x·cos + rotate_half(x)·sin): per tensor a negation of half
    the elements, a cat (a copy), two multiplies and an add, the add keeping the fused op's name. LLaMA-2-7B decode
    at batch 1: q and k are (1, 32, 1, 128), 4,096 elements each."""
    from accelsim.builders import build_workload
    from accelsim.ir import OpKind

    fused = build_workload("llama2_7b", {"phase": "decode", "kv_len": 16, "layers": 1})
    eager = build_workload("llama2_7b", {"phase": "decode", "kv_len": 16, "layers": 1, "rope_kernel": "eager"})
    ops = {o.name: o for o in eager.ops}
    kernels = [o for o in eager.ops if o.name.startswith("model.layers.0.self_attn.q_rope")
               and o.kind is not OpKind.RESHAPE]
    assert [o.fn for o in kernels] == ["neg", "cat", "mul", "mul", "add"]
    neg, cat = ops["model.layers.0.self_attn.q_rope.neg"], ops["model.layers.0.self_attn.q_rope.cat"]
    assert neg.in_shapes == ((1, 32, 1, 64),) and neg.vector_elems == 2048  # the second half only
    assert cat.in_shapes == ((1, 32, 1, 64), (1, 32, 1, 64)) and cat.out_shape == (1, 32, 1, 128)
    q_rope = ops["model.layers.0.self_attn.q_rope"]
    assert q_rope.fn == "add" and q_rope.inputs == ("model.layers.0.self_attn.q_rope.mul_cos",
                                                    "model.layers.0.self_attn.q_rope.mul_sin")
    # flops per element: 0.5 (neg) + 0 (cat) + 1 + 1 + 1 = 3.5, against the fused kernel's 3
    rope_flops = sum(o.flops for o in eager.ops if "_rope" in o.name)
    assert rope_flops == 2 * 4096 * 7 // 2
    assert sum(o.flops for o in fused.ops if "_rope" in o.name) == 2 * 4096 * 3
    # 8 more working kernels a layer (4 a tensor), the same MACs and the same consumers of q_rope and k_rope
    working = [len([o for o in g.ops if o.kind not in (OpKind.RESHAPE, OpKind.CONCAT)]) for g in (fused, eager)]
    assert working[1] - working[0] == 8
    assert sum(o.macs for o in eager.ops) == sum(o.macs for o in fused.ops)


def test_rope_kernel_is_checked():
    with pytest.raises(ConfigError):
        from accelsim.config import load_workload
        load_workload({"model": "llama2_7b", "rope_kernel": "unrolled"})
