"""Image encoders under tensor parallelism, split as vLLM's model code splits them (vllm/model_executor/models/
mllama4.py: Llama4UnfoldConvolution and Llama4MultiModalProjector are ColumnParallelLinear with gather_output, the
pixel-shuffle adapter's fc1 / fc2 column- and row-parallel; siglip.py: SiglipVisionEmbeddings' position table a
VocabParallelEmbedding)."""

from __future__ import annotations

import pytest

from accelsim.config import build_graph, load_workload


def _ops(workload: str, tp: int) -> dict:
    g = build_graph(load_workload(workload, [f"workload.tensor_parallel={tp}", "workload.images=1"]), "bf16")
    return {op.name: op for op in g.ops}


@pytest.mark.parametrize("tp", [2, 8])
def test_llama4s_patch_projection_adapter_and_projector_are_split(tp):
    ops = _ops("llama4_scout", tp)
    weight = {name: op.weights[0].shape for name, op in ops.items() if op.weights}
    # unfold 14 x 14 x 3 = 588 pixels -> 1408 (Llama4VisionConfig hidden_size), split by output, then gathered
    assert weight["model.vision_model.patch_embedding.linear"] == (1408 // tp, 588)
    assert ops["model.vision_model.linear_all_gather"].out_shape[-1] == 1408
    # the adapter: 4 x 1408 = 5632 -> 4096 column-split, 4096 -> 4096 row-split and all-reduced
    assert weight["model.vision_model.vision_adapter.mlp.fc1"] == (4096 // tp, 5632)
    assert weight["model.vision_model.vision_adapter.mlp.fc2"] == (4096, 4096 // tp)
    assert ops["model.vision_model.vision_adapter.mlp.fc2_all_reduce"].fn == "all_reduce"
    # the projector to the decoder's 5120, split by output and gathered
    assert weight["model.multi_modal_projector.linear_1"] == (5120 // tp, 4096)
    assert ops["model.multi_modal_projector.linear_1_all_gather"].out_shape[-1] == 5120


@pytest.mark.parametrize("tp", [2, 8])
def test_siglips_position_table_is_split_by_rows_and_its_lookups_all_reduced(tp):
    ops = _ops("gemma3_27b", tp)
    name = "model.vision_tower.vision_model.embeddings.position_embedding"
    # 896 / 14 = 64 patches a side: 4096 positions of 1152, ⌈4096 / T⌉ rows a chip
    assert ops[name].weights[0].shape == (-(-4096 // tp), 1152)
    assert ops[f"{name}_all_reduce"].fn == "all_reduce"


def _qwen_ops(workload: str, tp: int, *extra: str) -> list:
    g = build_graph(load_workload(workload, [f"workload.tensor_parallel={tp}", "workload.images=1", *extra]), "bf16")
    return [op for op in g.ops if op.name.startswith("model.visual.")]


@pytest.mark.parametrize("workload, extra, layers, patches, hidden", [
    # Qwen2.5-VL at 1024²: smart_resize to 1036² (a multiple of 28), 1036 / 14 = 74 patches a side, 74² = 5476;
    # 32 blocks of width 1280, windowed and full-attention blocks alike
    ("qwen2_5_vl_7b", ("workload.image_size=1024", "workload.seq_len=2048"), 32, 74 * 74, 1280),
    # Qwen3-VL at 448² (the default): 448 / 16 = 28 patches a side, 784; 27 blocks of width 1152
    ("qwen3_vl_8b", (), 27, 28 * 28, 1152),
])
@pytest.mark.parametrize("tp", [2, 4])
def test_qwen_vl_blocks_all_gather_qkv_under_tensor_parallelism(workload, extra, layers, patches, hidden, tp):
    # vLLM's Qwen2_5_VisionAttention.split_qkv (Qwen3_VisionBlock builds the same class): with tp_size > 1 the
    # column-split qkv output is all-gathered (all_gather_interleave) to 3 × hidden, then each chip slices its heads
    ops = _qwen_ops(workload, tp, *extra)
    gathers = [op for op in ops if op.kind.name == "COLLECTIVE" and op.fn == "all_gather"]
    assert [op.name for op in gathers] == [f"model.visual.blocks.{i}.attn.qkv_all_gather" for i in range(layers)]
    assert {op.out_shape for op in gathers} == {(1, patches, 3 * hidden)}
    qkv = [op for op in ops if op.name.endswith(".attn.qkv")]
    assert {op.weights[0].shape for op in qkv} == {(3 * hidden // tp, hidden)}  # the projection stays split
    # one chip's gathered output in bf16: Qwen2.5-VL 5476 × 3840 × 2 B = 42,055,680 B (probe p154 #1)
    if workload == "qwen2_5_vl_7b":
        assert patches * 3 * hidden * 2 == 42_055_680
    # no gather without tensor parallelism
    assert not [op for op in _qwen_ops(workload, 1, *extra) if op.kind.name == "COLLECTIVE"]


def test_glm4v_blocks_gather_no_qkv():
    # vLLM's Glm4vVisionAttention.split_qkv has no all-gather: each chip's qkv shard holds its own heads
    ops = _qwen_ops("glm4_1v_9b", 2)
    assert not [op for op in ops if op.kind.name == "COLLECTIVE" and op.fn == "all_gather"]
    assert [op for op in ops if op.name.endswith("attn.proj_all_reduce")]
