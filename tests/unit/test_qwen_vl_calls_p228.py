"""Probe p228 #1: the Qwen-VL encoders' attention calls. transformers' Qwen2_5_VLVisionAttention.forward
(src/transformers/models/qwen2_5_vl/modeling_qwen2_5_vl.py; Glm4vVisionAttention and Qwen3VLVisionAttention alike)
runs every attention implementation but flash_attention_2 as

    lengths = cu_seqlens[1:] - cu_seqlens[:-1]
    splits = [torch.split(tensor, lengths.tolist(), dim=2) for tensor in (query_states, key_states, value_states)]
    attn_outputs = [attention_interface(self, q, k, v, ...)[0] for q, k, v in zip(*splits)]
    attn_output = torch.cat(attn_outputs, dim=1)

with ``cu_seqlens`` each window's patches in Qwen2.5-VL's windowed layers (``cu_window_seqlens``) and each image's in
a full-attention layer: one call per window (per image), then one copy. accelsim launched one attention per window
*size*, 4 kernels a layer where eager transformers launches 16 × 4 + 1 at 448². FlashAttention's varlen kernel
(flash_attention_2, vLLM), which ``attention: fused`` prices, is one call a layer over all of ``cu_seqlens``.
"""

from __future__ import annotations

from accelsim.builders import build_workload
from accelsim.config import load_workload
from accelsim.ir import OpKind

EAGER = ("scores", "softmax", "softmax_cast", "context")  # accelsim's unfused attention ops


def _graph(name, **params):
    w = load_workload(name)
    return build_workload(w.model, {**w.params, "dtype": "bf16", "seq_len": 2048, "layers": 1, **params})


def _kernels(op):
    return op.attrs.get("kernels", 1)


def test_eager_windows_are_one_call_each_and_a_cat():
    # 448²: 32 × 32 patches, windows of 8 × 8 patches (window_size 112 px / 14 px): 4 × 4 = 16 windows an image
    g = _graph("qwen2_5_vl_7b", images=1)
    attn = "model.visual.blocks.0.attn"
    assert [_kernels(g[f"{attn}.{op}"]) for op in EAGER] == [16] * 4
    cat = g[f"{attn}.cat"]  # torch.cat of the 16 outputs: a copy of every patch's context, (images, heads, patches, d)
    assert (cat.kind, cat.fn, cat.out_shape, cat.flops) == (OpKind.ELEMENTWISE, "copy", (1, 16, 1024, 80), 0)
    assert g[f"{attn}.proj"].inputs[0] == f"{attn}.merge" and g[f"{attn}.merge"].inputs[0] == cat.name
    # a full-attention layer (fullatt_block_indexes 7, 15, 23, 31): one image, one call, and the cat
    assert [_kernels(g[f"model.visual.blocks.7.attn.{op}"]) for op in EAGER] == [1] * 4
    assert "model.visual.blocks.7.attn.cat" in {op.name for op in g.ops}
    # two images: 2 × 16 windows in a windowed layer, one call per image in a full one
    g2 = _graph("qwen2_5_vl_7b", images=2)
    assert {_kernels(g2[f"{attn}.{op}"]) for op in EAGER} == {32}
    assert {_kernels(g2[f"model.visual.blocks.7.attn.{op}"]) for op in EAGER} == {2}


def test_edge_windows_are_calls_of_their_own_size():
    # 1024² → 1036²: 74 × 74 patches; 9 whole windows a side and one of 74 − 72 = 2 patches: 81 full windows, 18
    # edge ones and 1 corner, 100 calls a windowed layer, and the work the same as one op per size
    g = _graph("qwen2_5_vl_7b", images=1, image_size=1024)
    attn = "model.visual.blocks.0.attn"
    calls = {w: {_kernels(g[f"{attn}.{w}.{op}"]) for op in EAGER} for w in ("full", "edge", "corner")}
    assert calls == {"full": {81}, "edge": {18}, "corner": {1}}
    assert sum(n for (n,) in calls.values()) == 10 * 10
    assert g[f"{attn}.cat"].out_shape == (1, 16, 74 * 74, 80)


def test_fused_is_one_varlen_kernel_a_layer():
    g = _graph("qwen2_5_vl_7b", images=1, image_size=1024, attention="fused")
    attn = "model.visual.blocks.0.attn"
    # the full windows' op opens the kernel; the edge and corner windows' run inside it (kernels 0)
    assert [_kernels(g[f"{attn}.{w}.attention"]) for w in ("full", "edge", "corner")] == [1, 0, 0]
    assert not any(op.name.endswith(".attn.cat") for op in g.ops)
    g2 = _graph("qwen2_5_vl_7b", images=2, attention="fused")
    assert _kernels(g2[f"{attn}.attention"]) == 1 and _kernels(g2["model.visual.blocks.7.attn.attention"]) == 1


def test_full_attention_encoders_call_once_per_image():
    # Qwen3-VL and GLM-4.1V attend over each image's patches in every layer: cu_seqlens one piece per image
    for preset in ("qwen3_vl_8b", "glm4_1v_9b"):
        g = _graph(preset, images=3)
        attn = "model.visual.blocks.0.attn"
        assert {_kernels(g[f"{attn}.{op}"]) for op in EAGER} == {3}, preset
        assert g[f"{attn}.cat"].fn == "copy", preset


def test_each_call_is_launched():
    # h100's kernel_launch is 21 µs of host time a kernel (arch/h100.yaml), 21e-6 × 1.83e9 Hz = 38,430 cycles. The
    # encoder's layers are launch-bound at 448², so each of a windowed layer's eager ops waits for its 16 launches:
    # its scale (eager attention's ``* scaling``, probe p235 #3, one call per window too) starts 16 × 38,430 = 614,880
    # cycles after its scores, its softmax as many after the scale, and its cat one launch after its context
    from accelsim.api import simulate

    w = {"base": "qwen2_5_vl_7b", "layers": 1, "images": 1, "seq_len": 512,
         "vision_config": {"depth": 2, "fullatt_block_indexes": [1]}}
    r = simulate(w, "h100").to_dict()
    assert r["clock_hz"] == 1.83e9
    start = {o["name"]: o["start_cycle"] for o in r["ops"]}
    attn = "model.visual.blocks.0.attn"
    assert start[f"{attn}.scale"] - start[f"{attn}.scores"] == 16 * 38_430
    assert start[f"{attn}.softmax"] - start[f"{attn}.scale"] == 16 * 38_430
    assert start[f"{attn}.cat"] - start[f"{attn}.context"] == 38_430
    kernels = {o["name"]: o["mapping"].get("kernels", 1) for o in r["ops"]}
    assert [kernels[f"{attn}.{op}"] for op in EAGER] == [16] * 4
