"""Probe p93 #1 (multi-chip training): a pipeline stage before the last has no loss (its output's gradient comes
back from the next stage), so the stages' stashes add up to the unpipelined model's and a middle stage keeps
Korthikanti et al. 2022's per-layer activations only."""

from __future__ import annotations

import pytest

import accelsim
from accelsim.builders.build import build_graph


def _stage(pp: int, stage: int, **kw) -> accelsim.Graph:
    return build_graph(accelsim.load_workload({"model": "gpt", "mode": "training", "dtype": "fp16",
                                               "pipeline_parallel": pp, "pipeline_stage": stage, **kw}))


SMALL = {"hidden": 1024, "heads": 16, "layers": 4, "seq_len": 1024, "tensor_parallel": 2, "sequence_parallel": True,
         "recompute": "selective"}


@pytest.mark.parametrize(("pp", "extra"), [(2, {}), (4, {"recompute": "full", "sequence_parallel": False}),
                                           (4, {"recompute": "none"})])
def test_the_stages_stashes_add_up_to_the_unpipelined_models(pp, extra):
    """Cutting the layers into stages moves each layer's stash to its stage and adds nothing: a layer's kept
    tensors are the same whichever stage holds it (the boundary tensor is the next stage's graph input there, the
    next layer's input here), and a stage's output is read by no backward op of its own."""
    kw = {**SMALL, **extra}
    whole = _stage(1, 0, **kw).meta["stashed_activation_bytes"]
    parts = [_stage(pp, k, **kw).meta["stashed_activation_bytes"] for k in range(pp)]
    assert sum(parts) == whole


def test_only_the_last_stage_holds_the_loss():
    """docs/architecture.md, "Pipeline parallelism": stage P − 1 holds the final norm, the head and the loss. A
    stage before it receives its output's gradient (Megatron's output_tensor_grad) as a graph input of the output's
    shape, (batch, s / t, h) with sequence parallelism: (1, 1024 / 2, 1024)."""
    first, last = _stage(2, 0, **SMALL), _stage(2, 1, **SMALL)
    assert not [op.name for op in first.ops if op.name.startswith("loss") or op.fn.startswith("cross_entropy")]
    out = "language_model.encoder.layers.1.add_mlp"
    assert first.inputs[f"{out}.output_grad"] == (1, 512, 1024)
    assert out not in first.meta["stashed"]  # no backward op reads the stage's own output
    assert any(f"{out}.output_grad" in op.inputs for op in first.ops)
    # (the fp16 logits' fp32 copy first: probe p176 #1; at tensor parallel 2 the vocabulary-parallel loss's three
    # all-reduces, Megatron's logits_max, predicted_logits and sum_exp_logits, before the loss: probe p238 #3)
    assert [op.fn for op in last.ops if op.name.startswith("loss")] == [
        "cast", "all_reduce", "all_reduce", "all_reduce", "cross_entropy", "cross_entropy_grad"]


@pytest.mark.parametrize(("recompute", "per_layer_sbh"), [("full", 2), ("selective", 34)])
def test_a_middle_stage_keeps_korthikantis_per_layer_stash(recompute, per_layer_sbh):
    """Korthikanti et al. 2022 (Table 2, t = 1, no sequence parallelism), 16-bit activations: full recomputation
    keeps each layer's input, 2·s·b·h bytes; selective keeps 34·s·b·h. A middle stage of 2 layers (8 layers, P = 4)
    keeps its input (layer 2's) and layer 3's input: nothing for its output, which only the next stage reads."""
    s, b, h = 1024, 1, 2048
    g = _stage(4, 1, hidden=h, heads=16, layers=8, seq_len=s, recompute=recompute)
    assert g.meta["stashed_activation_bytes"] == 2 * per_layer_sbh * s * b * h


def test_megatron_1t_stage_0_stash():
    """The 1T model (SC21 Table 1; h 25600, 128 layers, TP 8, PP 64, full recomputation) with micro-batch 2 of
    2560 tokens: stage 0 (layers 0 and 1) keeps layer 0's input (the embedding dropout's output), layer 1's input
    (layer 0's output), 2·s·b·h bytes each, the embedding dropout's mask (1 byte an element: s·b·h) and the token
    ids (b·s at the graph's 2 bytes an element); before p93 #1 it also kept layer 1's output for a phantom loss
    (another 2·s·b·h)."""
    s, b, h = 2560, 2, 25600
    g = _stage(64, 0, hidden=h, heads=160, layers=128, seq_len=s, batch=b, vocab=51200, tensor_parallel=8,
               recompute="full")
    sbh = s * b * h
    assert g.meta["stashed_activation_bytes"] == 2 * sbh + 2 * sbh + sbh + 2 * b * s
