"""Selective recomputation re-runs unfused GQA's copies of K and V out to every head (probe p233 #2).

Selective recomputation (Korthikanti et al. 2022) checkpoints the attention core from its inputs q, k, v. In
Megatron-core the checkpointed core is DotProductAttention.forward (NVIDIA/Megatron-LM,
megatron/core/transformer/dot_product_attention.py), which itself runs
``key = key.repeat_interleave(np // ng, dim=2)`` (and the same for ``value``) before the score matmul, so the saved
K and V have kv_heads heads and the copies are made again in the backward pass. Without recomputation autograd keeps
the expanded copies the two matmuls read; full recomputation keeps only each layer's input.

Llama 3 8B, one layer, a 512-token training step in bf16: 32 query heads, 8 KV heads, head_dim 128. Every number
below is worked out from those shapes in the comments."""

from __future__ import annotations

from accelsim import simulate
from accelsim.config import build_graph, load_workload

ATTN = "model.layers.0.self_attn"
T, HEADS, KV_HEADS, D, BF16 = 512, 32, 8, 128, 2
EXPANDED = HEADS * T * D * BF16  # one copy's output: 32 x 512 x 128 x 2 = 4,194,304 B
GROUPED = KV_HEADS * T * D * BF16  # its input: 8 x 512 x 128 x 2 = 1,048,576 B
# eager attention's probabilities: the fp32 softmax output (32 x 512 x 512 x 4 = 33,554,432 B) and its bf16 cast
# (32 x 512 x 512 x 2 = 16,777,216 B), both kept without recomputation, both recomputed by selective
PROBS = HEADS * T * T * 4 + HEADS * T * T * BF16


def _graph(recompute: str):
    return build_graph(load_workload({"base": "llama3_8b", "layers": 1, "seq_len": T, "mode": "training",
                                      "recompute": recompute}), "bf16")


def _activations(recompute: str) -> int:
    r = simulate({"base": "llama3_8b", "layers": 1, "seq_len": T, "mode": "training", "recompute": recompute},
                 "h100", plots=False).to_dict()
    return r["memory"]["hbm"]["activations"]


def test_selective_recomputes_the_copies_from_the_grouped_k_and_v():
    g = _graph("selective")
    for w, src in (("k", f"{ATTN}.k_rope"), ("v", f"{ATTN}.v_proj")):
        again = g[f"{ATTN}.{w}_repeat.recompute"]
        assert again.fn == "repeat_kv" and again.attrs["phase"] == "backward" and again.attrs["recompute"]
        # re-run from the kept kv_heads tensor: read 8 x 512 x 128 x 2 B, write 32 x 512 x 128 x 2 B
        assert again.in_bytes == GROUPED == 1_048_576 and again.out_bytes == EXPANDED == 4_194_304
        assert again.in_shapes == ((1, KV_HEADS, T, D),) and again.out_shape == (1, HEADS, T, D)
        assert src in g.meta["stashed"] and f"{ATTN}.{w}_repeat" not in g.meta["stashed"]
    names = [op.name for op in g.ops]
    # the recomputed matmuls read the recomputed copies, which run before them
    assert g[f"{ATTN}.scores.recompute"].inputs[1] == f"{ATTN}.k_repeat.recompute"
    assert g[f"{ATTN}.context.recompute"].inputs[1] == f"{ATTN}.v_repeat.recompute"
    assert names.index(f"{ATTN}.v_repeat.recompute") < names.index(f"{ATTN}.scores.recompute")


def test_no_recompute_keeps_the_expanded_copies():
    g = _graph("none")
    assert {f"{ATTN}.k_repeat", f"{ATTN}.v_repeat"} <= set(g.meta["stashed"])
    assert not [op for op in g.ops if op.name.endswith("repeat.recompute")]


def test_full_recomputes_the_copies_and_keeps_neither():
    g = _graph("full")
    assert f"{ATTN}.k_repeat.recompute" in g and f"{ATTN}.v_repeat.recompute" in g
    assert not [s for s in g.meta["stashed"] if "repeat" in s]


def test_activation_bytes_selective_vs_none():
    # none keeps the probabilities and the two expanded copies (2 x 4,194,304 B); selective keeps neither, but the
    # grouped K and V the recomputed copies read (2 x 1,048,576 B). So none - selective
    # = 50,331,648 + 8,388,608 - 2,097,152 = 56,623,104 B; the grouped-K/V term alone, 6,291,456 B, is what
    # selective overstated when it kept the expanded copies (499,385,344 B before, 493,093,888 B after)
    diff = PROBS + 2 * EXPANDED - 2 * GROUPED
    assert 2 * EXPANDED - 2 * GROUPED == 6_291_456 and diff == 56_623_104
    assert _graph("none").meta["stashed_activation_bytes"] - _graph("selective").meta["stashed_activation_bytes"] \
        == diff
    assert _activations("none") - _activations("selective") == diff
