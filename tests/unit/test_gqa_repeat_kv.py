"""Unfused grouped-query attention in the Hugging Face builders copies K and V out to every query head first, as
transformers' eager attention does (probe p231 #1): ``eager_attention_forward`` calls
``repeat_kv(key, num_key_value_groups)`` and ``repeat_kv(value, ...)`` before both matmuls, and ``repeat_kv`` is
``hidden_states[:, :, None].expand(b, kv, n_rep, s, d).reshape(b, kv * n_rep, s, d)``, a copy (reshape of a stride-0
expand). Every number below is worked out from the model's shapes in the comments."""

from __future__ import annotations

import pytest

from accelsim import simulate
from accelsim.builders.tlayers import KVCache, TransformerBuilder
from accelsim.config import build_graph, load_workload
from accelsim.config.load import load_arch
from accelsim.ir import OpKind
from accelsim.report.summary import unfused_attention_names

ATTN = "model.layers.0.self_attn"


def _ops(g, suffix: str):
    return [op for op in g.ops if op.name.endswith(suffix)]


def _graph(base: str, **params):
    return build_graph(load_workload({"base": base, "layers": 1, **params}), "bf16")


def test_llama3_8b_decode_builds_the_two_copies_and_the_matmuls_read_them():
    # Llama 3 8B: 32 query heads, 8 KV heads, head_dim 128; a decode step at 100 cached tokens attends to 101 keys
    g = _graph("llama3_8b", phase="decode", kv_len=100)
    k_rep, v_rep = g[f"{ATTN}.k_repeat"], g[f"{ATTN}.v_repeat"]
    assert k_rep.kind is OpKind.ELEMENTWISE and k_rep.fn == "repeat_kv" and v_rep.fn == "repeat_kv"
    assert k_rep.inputs == (f"{ATTN}.k_all",) and v_rep.inputs == (f"{ATTN}.v_all",)
    assert k_rep.in_shapes == ((1, 8, 101, 128),) and k_rep.out_shape == (1, 32, 101, 128)
    assert k_rep.flops == 0 and k_rep.attrs["group"] == 4 and k_rep.vector_elems == 32 * 101 * 128
    # the matmuls read the expanded tensors; their MACs are unchanged (1 x 32 x 101 x 128 each)
    scores, context = g[f"{ATTN}.scores"], g[f"{ATTN}.context"]
    assert scores.inputs[1] == k_rep.name and context.inputs[1] == v_rep.name
    assert scores.macs == context.macs == 32 * 101 * 128
    # in bf16: the copy reads 8 x 101 x 128 x 2 = 206,848 B and writes 32 x 101 x 128 x 2 = 827,392 B
    assert k_rep.in_bytes == 206_848 and k_rep.out_bytes == 827_392
    # order: both copies before the scores, as eager_attention_forward runs them
    names = [op.name for op in g.ops]
    assert names.index(v_rep.name) < names.index(scores.name)


@pytest.mark.parametrize("base, params", [("llama2_7b", {}), ("llama3_8b", {"attention": "fused"})])
def test_no_copy_without_grouping_or_with_fused_attention(base, params):
    # Llama-2-7B has 32 KV heads for 32 heads (nothing to repeat); a fused kernel reads the 8 KV heads itself
    g = _graph(base, phase="decode", kv_len=64, **params)
    assert not [op for op in g.ops if op.fn == "repeat_kv"]


def test_llama2_70b_repeats_its_8_kv_heads_to_64():
    # Llama-2-70B (the LLaMA-2 builder, not hf): 64 heads, 8 KV heads, head_dim 128, a 16-token prefill
    g = _graph("llama2_70b", seq_len=16)
    (k_rep,) = _ops(g, "self_attn.k_repeat")
    assert k_rep.in_shapes == ((1, 8, 16, 128),) and k_rep.out_shape == (1, 64, 16, 128)
    assert k_rep.attrs["group"] == 8


def test_builder_flag_off_keeps_the_grouped_read():
    # the toolkit's default (the attention micro-benchmark, Megatron's gpt, ONNX): the matmuls read the kv_heads K
    b = TransformerBuilder("t", {"input": (2, 3, 64)})
    b.multihead_attention("input", heads=4, kv_heads=2, head_dim=16, bias=False, cache=KVCache(past=5))
    g = b.build()
    assert not [op for op in g.ops if op.fn == "repeat_kv"]
    assert g[next(op.name for op in g.ops if op.name.endswith("scores"))].in_shapes[1] == (2, 2, 8, 16)
    b = TransformerBuilder("t", {"input": (2, 3, 64)})
    b.repeat_kv = True
    b.multihead_attention("input", heads=4, kv_heads=2, head_dim=16, bias=False, cache=KVCache(past=5))
    g = b.build()
    # batch 2, 5 cached + 3 new = 8 keys: (2, 2, 8, 16) -> (2, 4, 8, 16)
    assert [op.out_shape for op in g.ops if op.fn == "repeat_kv"] == [(2, 4, 8, 16)] * 2


def test_the_copies_touch_the_cache_in_its_dtype():
    # an fp8 cache: the copies read and write 1 B an element, as the cache views and the matmuls over them do
    g = _graph("llama3_8b", phase="decode", kv_len=100, kv_cache_dtype="fp8")
    k_rep = g[f"{ATTN}.k_repeat"]
    assert k_rep.dtype == g[f"{ATTN}.k_append"].dtype == g[f"{ATTN}.scores"].dtype
    assert k_rep.dtype != g[f"{ATTN}.q_proj"].dtype
    # 8 x 101 x 128 x 1 B read, 32 x 101 x 128 x 1 B written
    assert k_rep.in_bytes == 103_424 and k_rep.out_bytes == 413_696


def test_training_sums_each_group_back():
    # a 16-token training step: the expand's gradient reads dY (32 x 16 x 128 elements) and writes the 8-head dK
    # (8 x 16 x 128), one add per element beyond each group's first: 65,536 - 16,384 = 49,152 FLOPs
    g = _graph("llama3_8b", seq_len=16, mode="training")
    grad = g[f"{ATTN}.k_repeat.grad_input"]
    assert grad.fn == "repeat_kv_grad" and grad.kind is OpKind.ELEMENTWISE
    assert grad.in_shapes == ((1, 32, 16, 128),) and grad.out_shape == (1, 8, 16, 128)
    assert grad.flops == 32 * 16 * 128 - 8 * 16 * 128 == 49_152
    assert grad.vector_elems == 32 * 16 * 128
    # the K gradient reaching k_rope is that sum's (the copy is K's only reader in a training prompt)
    assert g[f"{ATTN}.k_rope.grad_input"].inputs[0] == grad.name


def test_the_unfused_note_counts_the_copies():
    g = _graph("llama3_8b", phase="decode", kv_len=100)
    names = unfused_attention_names(g, load_arch("h100"))
    assert {f"{ATTN}.k_repeat", f"{ATTN}.v_repeat", f"{ATTN}.scores", f"{ATTN}.context"} <= names


def test_decode_bytes_of_the_copies_and_the_matmuls():
    # llama3_8b, 1 layer, decode at 4,095 cached tokens (4,096 keys) on h100, bf16. By hand: each copy reads
    # 8 x 4,096 x 128 x 2 = 8,388,608 B and writes 32 x 4,096 x 128 x 2 = 33,554,432 B (its L2 traffic, read and
    # write); the scores read the expanded K (33,554,432 B, not the grouped 8,388,608) and write 32 x 4,096 x 2 =
    # 262,144 B of scores; the context reads the expanded V
    r = simulate({"base": "llama3_8b", "layers": 1, "phase": "decode", "kv_len": 4095}, "h100",
                 plots=False).to_dict()
    ops = {op["name"]: op for op in r["ops"]}
    for w in ("k", "v"):
        assert ops[f"{ATTN}.{w}_repeat"]["bytes"]["l2"] == 8_388_608 + 33_554_432
        assert ops[f"{ATTN}.{w}_repeat"]["bytes"]["hbm"] >= 33_554_432  # (two 33.5 MB copies outgrow the 50 MB L2)
    assert ops[f"{ATTN}.scores"]["bytes"]["hbm"] >= 33_554_432 + 262_144
    assert ops[f"{ATTN}.context"]["bytes"]["hbm"] >= 33_554_432
