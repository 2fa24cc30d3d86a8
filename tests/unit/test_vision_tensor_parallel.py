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
