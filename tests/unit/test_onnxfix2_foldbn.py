"""Probe p115 #3: ``fold_batchnorm`` folds a BN into its conv only where the BN is the conv's only reader.

y = BN(conv(x)) + conv(x), x (1, 16, 32, 32) bf16: the conv's output is 16·32·32 = 16,384 elements, 32,768 B. With
the raw conv output read by the Add too, the BN stays (a vector op), and the Add reads two distinct 32 KiB tensors
and writes one: 3 · 32,768 = 98,304 B of HBM with activations off chip (folding gave 65,536: one operand merged)."""

from __future__ import annotations

import accelsim
from accelsim.builders.layers import GraphBuilder
from accelsim.ir import OpKind
from accelsim.mapping.aliases import aliases
from accelsim.options import Options


def _graph(shared: bool):
    b = GraphBuilder("g", (1, 16, 32, 32), dtype="bf16")
    c = b.conv2d(b.input, 16, 3, padding=1, bias=False, name="conv")
    n = b.batchnorm2d(c, name="bn")
    b.add(n, c if shared else n, name="add")
    return b.build()


def _folded(graph):
    plans = aliases(graph, Options(fold_batchnorm=True))
    return {p.op.name for p in plans if p.details.get("folded")}


def test_a_bn_beside_another_reader_stays():
    assert _folded(_graph(shared=True)) == set()  # was {"bn"}
    assert _folded(_graph(shared=False)) == {"bn"}  # the sole reader still folds


def test_the_add_reads_two_tensors():
    d = accelsim.simulate(_graph(shared=True), "tpu-v4", fold_batchnorm=True, activations_on_chip=False).to_dict()
    rows = {o["name"]: o for o in d["ops"]}
    assert rows["add"]["bytes"]["hbm"] == 3 * 16 * 32 * 32 * 2  # 98,304 (was 65,536)
    assert rows["bn"]["unit"] != "none"
    assert any(op.kind is OpKind.NORM for op in _graph(True).ops)
