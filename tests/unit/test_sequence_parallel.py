"""Megatron's sequence parallelism in the gpt builder (Korthikanti et al. 2022, "Reducing Activation Recomputation
in Large Transformer Models", Sec. 4.2.2 and Table 2).

With tensor parallelism t, the regions between the tensor-parallel blocks (LayerNorms, dropouts, residual adds)
hold s/t of the tokens: every term of a layer's kept activations is divided by t, sbh·(34/t + 5·as/(h·t)) bytes in
16 bits (Table 2: tensor + sequence parallel); with selective recomputation 34·sbh/t, with full recomputation the
layer input's shard 2·sbh/t. Each block's all-reduce becomes an all-gather before its column-split linear and a
reduce-scatter after its row-split linear, which move the same bytes: a ring all-reduce sends 2(t−1)/t of the
tensor, an all-gather and a reduce-scatter (t−1)/t each.
"""

from __future__ import annotations

from collections import Counter

import pytest

from accelsim import api
from accelsim.builders.build import build_workload

S, B, H, A, T = 512, 2, 1024, 16, 4
SBH = S * B * H
# Megatron's VocabParallelCrossEntropy all-reduces logits_max, predicted_logits and sum_exp_logits over the group
LOSS_ALL_REDUCES = 3
SMALL = {"hidden": H, "heads": A, "seq_len": S, "batch": B, "dtype": "fp16", "tensor_parallel": T}


def _gpt(layers: int, **kw):
    return build_workload("gpt", {"mode": "training", "layers": layers, **SMALL, "sequence_parallel": True, **kw})


def _layer_stash(**kw) -> int:
    return _gpt(2, **kw).meta["stashed_activation_bytes"] - _gpt(1, **kw).meta["stashed_activation_bytes"]


def test_a_layer_keeps_korthikantis_sequence_parallel_share():
    # sbh·(34/t + 5·as/(h·t)) = 34·sbh/4 + 5·(a/4)·s²·b; without sequence parallelism sbh·(10 + 24/t + ...)
    assert _layer_stash() == 34 * SBH // T + 5 * (A // T) * S * S * B
    assert _layer_stash(sequence_parallel=False) == SBH * (10 + 24 // T) + 5 * (A // T) * S * S * B


def test_recomputation_with_sequence_parallelism():
    assert _layer_stash(recompute="selective") == 34 * SBH // T
    assert _layer_stash(recompute="full") == 2 * SBH // T  # the layer input's token shard, 16 bits
    # without sequence parallelism (Korthikanti et al. Table 2): selective sbh·(10 + 24/t), full the whole input
    assert _layer_stash(recompute="selective", sequence_parallel=False) == SBH * (10 + 24 // T)
    assert _layer_stash(recompute="full", sequence_parallel=False) == 2 * SBH


def test_each_block_gathers_then_reduce_scatters_and_the_backward_mirrors_it():
    g = _gpt(1)
    layer = [o for o in g.ops if ".layers.0." in o.name and o.kind.value == "collective"]
    forward = Counter(o.fn for o in layer if o.phase == "forward")
    assert forward == {"all_gather": 2, "reduce_scatter": 2}  # attention and MLP blocks; no all-reduce
    backward = Counter((o.fn, bool(o.attrs.get("recompute"))) for o in layer if o.phase == "backward")
    # the two shards gathered again (Megatron keeps the shard), each all-gather's gradient reduce-scattered and
    # each reduce-scatter's gradient all-gathered
    assert backward == {("all_gather", True): 2, ("reduce_scatter", False): 2, ("all_gather", False): 2}
    gathered = [o for o in layer if o.fn == "all_gather" and o.phase == "forward"]
    assert all(o.in_shapes[0] == (B, S // T, H) and o.out_shape == (B, S, H) for o in gathered)


def test_the_gather_and_scatter_send_what_the_all_reduce_sent():
    def link_bytes(sp: bool) -> dict[str, int]:
        r = api.simulate({"model": "gpt", "layers": 1, **SMALL, "tensor_parallel": 2, "sequence_parallel": sp},
                         "dgx-a100", plots=False).to_dict()
        return {o["name"]: o["bytes"]["link"] for o in r["ops"] if o["kind"] == "collective" and ".layers.0." in o["name"]}

    tp, sp = link_bytes(False), link_bytes(True)
    whole = SBH * 2  # one block's (b, s, h) output in 16 bits
    assert sorted(tp.values()) == [whole, whole]  # ring all-reduce over 2 chips: 2·(1/2)·whole each
    assert sorted(sp.values()) == [whole // 2] * 4  # all-gather and reduce-scatter: (1/2)·whole each
    assert sum(sp.values()) == sum(tp.values())


def test_a_later_pipeline_stage_reads_the_token_shard():
    g = build_workload("gpt", {"mode": "training", "layers": 2, **SMALL, "sequence_parallel": True,
                               "pipeline_parallel": 2, "pipeline_stage": 1})
    assert g.inputs["input"] == (B, S // T, H)


@pytest.mark.parametrize("bad", [{"seq_len": 510}, {"phase": "decode"}, {"decode_steps": 4}])
def test_sequence_parallel_needs_a_divisible_prompt(bad):
    with pytest.raises(ValueError, match="sequence_parallel"):
        build_workload("gpt", {"layers": 1, **SMALL, "sequence_parallel": True, **bad})


def test_an_all_to_alls_gradient_is_an_all_to_all_back():
    # expert parallelism (Mixtral, 2 ranks): the dispatch and combine all-to-alls send the tokens' rows to the
    # experts' chips and back; their gradients travel the same way back, not as all-reduces (twice the bytes)
    from accelsim.builders.build import build_graph
    from accelsim.config import load_workload

    w = load_workload("mixtral_8x7b", ["workload.mode=training", "workload.num_hidden_layers=1",
                                       "workload.expert_parallel=2", "workload.seq_len=64"])
    ops = [o for o in build_graph(w).ops if o.kind.value == "collective"]
    backward = [o for o in ops if o.phase == "backward"]
    assert len(backward) == 2 and {o.fn for o in ops} == {"all_to_all"}
    for o in backward:
        forward = next(f for f in ops if f.name == o.attrs["forward"])
        assert o.out_shape == forward.in_shapes[0] and o.in_shapes[0] == forward.out_shape


@pytest.mark.parametrize("model, hidden", [("llama2_7b", 4096), ("qwen2_7b", 3584)])
def test_llama_style_layers_keep_their_norms_on_token_shards(model, hidden):
    # a LLaMA-style layer (RMSNorm, SwiGLU, no dropout) under tensor parallelism keeps its two norms' inputs and
    # outputs whole on every chip: 4 tensors of s·b·h in 16 bits = 8·sbh; sequence parallelism keeps 1/t of them
    from accelsim.builders.build import build_graph
    from accelsim.config import load_workload

    s, t = 512, 4
    layers_key = "layers" if model == "llama2_7b" else "num_hidden_layers"

    def layer_stash(sp: bool) -> int:
        def stash(layers: int) -> int:
            w = load_workload(model, ["workload.mode=training", f"workload.{layers_key}={layers}",
                                      f"workload.seq_len={s}", f"workload.tensor_parallel={t}", "workload.dtype=fp16",
                                      f"workload.sequence_parallel={str(sp).lower()}"])
            return build_graph(w).meta["stashed_activation_bytes"]
        return stash(2) - stash(1)

    assert layer_stash(False) - layer_stash(True) == 8 * s * hidden * (t - 1) // t


def _embedding_and_head_collectives(model: str, sp: bool, extra: tuple[str, ...] = ()) -> Counter:
    """(phase, fn) of the collectives outside the layers of a 1-layer training step at tensor_parallel T."""
    from accelsim.builders.build import build_graph
    from accelsim.config import load_workload

    layers_key = "num_hidden_layers" if model == "qwen2_7b" else "layers"
    w = load_workload(model, ["workload.mode=training", f"workload.{layers_key}=1", f"workload.seq_len={S}",
                              f"workload.tensor_parallel={T}", f"workload.sequence_parallel={str(sp).lower()}",
                              *extra])
    return Counter((o.phase, o.fn, bool(o.attrs.get("recompute"))) for o in build_graph(w).ops
                   if o.kind.value == "collective" and ".layers.0." not in o.name)


@pytest.mark.parametrize("model", ["llama2_7b", "qwen2_7b"])
def test_a_rotary_models_embedding_is_reduce_scattered_under_sequence_parallelism(model):
    # Megatron-core's LanguageModelEmbedding sets reduce_scatter_embeddings when sequence parallelism is on and no
    # position embedding is added (RoPE models): VocabParallelEmbedding reduce-scatters its partial look-ups, whose
    # gradient is all-gathered. The LM head (a ColumnParallelLinear with sequence_parallel) all-gathers its input
    # shard, gathers it again in the backward and reduce-scatters the input's gradient. No all-reduce of
    # activations; probe p238 #3 (this test said "no all-reduce anywhere" before): the loss's three (Megatron's
    # VocabParallelCrossEntropy: logits_max MAX, predicted_logits and sum_exp_logits SUM, over the split vocabulary)
    # and, once a step, finalize_model_grads' all-reduce of the sequence-parallel norms' gradients
    assert _embedding_and_head_collectives(model, True) == {
        ("forward", "reduce_scatter", False): 1, ("backward", "all_gather", False): 1,
        ("forward", "all_gather", False): 1, ("backward", "all_gather", True): 1, ("backward", "reduce_scatter", False): 1,
        ("forward", "all_reduce", False): LOSS_ALL_REDUCES, ("optimizer", "all_reduce", False): 1}


def test_a_learned_position_models_embedding_is_all_reduced_then_cut():
    # Megatron's GPT adds position embeddings after the look-up, so the look-up is all-reduced
    # (reduce_from_tensor_model_parallel_region: its gradient passes through) and the sum cut to the chip's tokens
    # (scatter_to_sequence_parallel_region: its gradient all-gathered); the head as above.
    # (probe p238 #3: + the loss's three all-reduces and the step's one of the sequence-parallel gradients)
    assert _embedding_and_head_collectives("gpt", True, ("workload.hidden=1024", "workload.heads=16")) == {
        ("forward", "all_reduce", False): 1 + LOSS_ALL_REDUCES, ("backward", "all_gather", False): 1,
        ("forward", "all_gather", False): 1, ("backward", "all_gather", True): 1, ("backward", "reduce_scatter", False): 1,
        ("optimizer", "all_reduce", False): 1}


@pytest.mark.parametrize("model", ["llama2_7b", "gpt"])
def test_without_sequence_parallelism_the_head_input_gradient_is_all_reduced_not_the_embeddings(model):
    # Megatron: the embedding's all-reduce passes its gradient through; the LM head's column-split input
    # (copy_to_tensor_model_parallel_region) all-reduces its gradient; the loss's three all-reduces over the split
    # vocabulary (probe p238 #3); no sequence-parallel gradients to all-reduce at the step
    from accelsim.builders.build import build_graph
    from accelsim.config import load_workload

    extra = ("workload.hidden=1024", "workload.heads=16") if model == "gpt" else ()
    assert _embedding_and_head_collectives(model, False, extra) == {
        ("forward", "all_reduce", False): 1 + LOSS_ALL_REDUCES, ("backward", "all_reduce", False): 1}
    w = load_workload(model, ["workload.mode=training", "workload.layers=1", f"workload.seq_len={S}",
                              f"workload.tensor_parallel={T}", *extra])
    (grad,) = [o for o in build_graph(w).ops if o.kind.value == "collective" and o.phase == "backward"
               and ".layers.0." not in o.name]
    assert grad.attrs["forward"].endswith("tp_copy")
