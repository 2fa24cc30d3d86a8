"""An op reading a slice view reads only the slice's share of the physical tensor (mapping/aliases.py shares,
traffic._sources): q out of a fused q/k/v projection, the rotated part of a head, BERT's CLS token.

Byte counts worked out below: bf16 (2 B an element), activations in HBM (h100, L2 residency off), one batch."""

from __future__ import annotations

from accelsim.api import simulate
from accelsim.builders.tlayers import TransformerBuilder


def _ops(graph):
    # cache residency off: every activation read comes from HBM (not a producer's output still in L2)
    return {o["name"]: o for o in simulate(graph, "h100", cache_residency=False).to_dict()["ops"]}


def test_a_slice_of_a_fused_projection_reads_its_share():
    b = TransformerBuilder("slices", {"input": (1, 512, 256)}, dtype="bf16")
    qkv = b.linear("input", 3 * 256, name="qkv")  # (1, 512, 768)
    q = b.view(qkv, (1, 512, 256), "slice", name="q", strict=False, dim=2, start=0)
    k = b.view(qkv, (1, 512, 256), "slice", name="k", strict=False, dim=2, start=256)
    b.rmsnorm(q, name="q_norm")  # reads q: a third of qkv
    b.add(q, k, name="q_plus_k")  # reads q and k: two thirds of qkv, once
    b.rmsnorm(qkv, name="all_norm")  # reads all of it
    ops = _ops(b.build())
    third = 512 * 256 * 2
    out = 512 * 256 * 2
    assert ops["q_norm"]["bytes"]["hbm"] == third + out + 256 * 2  # q, its output, the (256,) weight
    assert ops["q_plus_k"]["bytes"]["hbm"] == 2 * third + out
    assert ops["all_norm"]["bytes"]["hbm"] == 3 * third + 3 * out + 768 * 2


def test_partial_rope_reads_only_the_rotated_features():
    # GPT-NeoX's rotary_pct 0.25: RoPE reads and writes 16 of each 64-wide head's features (vLLM rotates in place)
    b = TransformerBuilder("rope", {"input": (1, 8, 128, 64)}, dtype="bf16")
    b.rope("input", name="q_rope", rotary_dim=16)
    ops = _ops(b.build())
    assert ops["q_rope.rotary"]["bytes"]["hbm"] == 2 * (8 * 128 * 16 * 2)  # the slice in, the rotated slice out
