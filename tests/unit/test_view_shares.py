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


def test_only_selecting_views_read_a_share():
    # a view that sums its input (a broadcast's gradient, fn "expand_grad") has fewer elements but reads it all
    b = TransformerBuilder("reduce", {"input": (1, 8, 128, 64)}, dtype="bf16")
    summed = b.view("input", (1, 1, 128, 64), "expand_grad", name="summed", strict=False)
    b.rmsnorm(summed, name="norm")
    ops = _ops(b.build())
    assert ops["norm"]["bytes"]["hbm"] == 8 * 128 * 64 * 2 + 128 * 64 * 2 + 64 * 2  # all of it, its output, weight


def test_overlapping_key_and_value_views_are_read_once():
    # DeepSeek's latent attention: the values are a slice of the keys' tensor (shared_kv); a view of top-k of the
    # tokens reads half of the latents once, not 0.5 + 0.44
    from accelsim.mapping.plan import Plan
    from accelsim.mapping.traffic import _shares

    p = Plan(op=None, index=0, operands=(("q",), ("lat",), ("lat",)),
             shares=({}, {"lat": 0.5}, {"lat": 0.5 * 512 / 576}))
    assert _shares(p, range(1, 3), overlap=True) == {"lat": 0.5}
    assert _shares(p, range(1, 3)) == {"lat": 0.5 + 0.5 * 512 / 576}  # disjoint slices (q, k, v of one projection)
