"""The unit assignment's rule for an op that may split while another holds some units (``choice.assign``): it
takes the candidate that finishes first, the units free now or more units later (earliest-finish-time list
scheduling, as HEFT places a task), whichever ends sooner (p61 finding 4: the causal fused-attention backward on
tpu-v5p-128 on one core's 4 MXUs beside ``o_proj.grad_weight`` on the other's)."""

from __future__ import annotations

import math

import pytest

from accelsim.config import load_arch
from accelsim.ir import Graph
from accelsim.mapping import choice
from accelsim.mapping.aliases import aliases
from accelsim.mapping.fusion import fuse, pipeline
from accelsim.mapping.lower import build_units
from accelsim.mapping.pricing import price
from accelsim.options import Options

from ..conftest import linear_op

# hand cost model of the two GEMMs, replacing traffic.split_estimate: (est, compute, memory) on n units, with no
# transfers. fc0 has 4 whole pieces of 100 cycles (as o_proj.grad_weight's M of 512 costs as much in 64-row shares on 8 arrays as in 128-row ones on 4): on n
# units its busiest unit runs ceil(4 / n) of them, so 8 units are no faster than 4. fc1 has 8 pieces (heads) of
# ``head`` cycles: ceil(8 / n) × head.
PIECES = {"fc0": (4, 100.0), "fc1": (8, None)}


def _assign(monkeypatch, head: float):
    arch = load_arch("multicore-4", ["arch.cores=2", "arch.core.systolic.count=4"])  # 2 cores × 4 arrays
    # fc0 and fc1 read the input, independent: both ready at cycle 0 (of two shapes: the estimates are kept by the
    # op's priced signature)
    graph = Graph("two", [linear_op("fc0", "input", 512, 512, 512), linear_op("fc1", "input", 512, 512, 256)],
                  {"input": (512, 512)})
    opts = Options(activations_on_chip=False)

    def estimate(p, arch, options, n, ncores, **_):
        count, each = PIECES[p.op.name]
        c = math.ceil(count / n) * (head if each is None else each)
        return c, c, 0.0

    got, units, spans = assign_by_hand(monkeypatch, graph, arch, opts, estimate)
    return {name: [units[u].core for u in p.units] for name, p in got.items()}, spans


def assign_by_hand(monkeypatch, graph, arch, opts, estimate):
    """``choice.assign``'s plans of ``graph`` (the working ops by name), the units, and each op's span as assign
    placed it ((start, end) of its chosen units), with ``estimate`` (a hand cost model: (est, compute, memory) on n
    units) in place of ``traffic.split_estimate``."""
    monkeypatch.setattr(choice, "split_estimate", estimate)
    choice._ESTIMATES[0] = (None, {})  # (estimates kept from another test's arch would bypass the hand model)
    spans = {}  # op → (start, end) as assign places it
    split_units = choice._split_units

    def record(p, *args, **kwargs):
        chosen, start, est = split_units(p, *args, **kwargs)
        spans[p.op.name] = (start, start + est)
        return chosen, start, est

    monkeypatch.setattr(choice, "_split_units", record)
    plans = pipeline(price(fuse(aliases(graph, opts), graph, arch), arch), arch)
    units = build_units(arch)
    try:
        got = {p.op.name: p for p in choice.assign(plans, units, opts, arch) if p.works}
    finally:
        choice._ESTIMATES[0] = (None, {})
    return got, units, spans


def test_a_ready_gemm_takes_the_free_core_when_that_finishes_first(monkeypatch):
    # fc0 first (plan order): all 8 units free at 0; 4 units (1 core) and 8 units (2 cores) both end at 100, and
    # 4 compute no longer and move no more, so fc0 takes core 0's 4 arrays, cycles 0-100.
    # fc1, head = 60: core 1's 4 arrays now end at 0 + ceil(8/4)·60 = 120; all 8 when core 0 frees end at
    # 100 + ceil(8/8)·60 = 160. 120 < 160: core 1, at once.
    got, spans = _assign(monkeypatch, head=60.0)
    assert got == {"fc0": [0, 0, 0, 0], "fc1": [1, 1, 1, 1]}
    assert spans == {"fc0": (0.0, 100.0), "fc1": (0.0, 120.0)}


def test_a_ready_gemm_waits_for_every_unit_when_that_finishes_first(monkeypatch):
    # fc1, head = 150: core 1 now ends at 2·150 = 300; all 8 at 100 end at 100 + 150 = 250. 250 < 300: it waits.
    got, spans = _assign(monkeypatch, head=150.0)
    assert got == {"fc0": [0, 0, 0, 0], "fc1": [0, 0, 0, 0, 1, 1, 1, 1]}
    assert spans == {"fc0": (0.0, 100.0), "fc1": (100.0, 250.0)}


@pytest.mark.parametrize("head, cores", [(99.0, [1]), (101.0, [0, 1])])
def test_the_choice_turns_where_the_two_finishes_cross(monkeypatch, head, cores):
    # core 1 now: 2·head; all 8 later: 100 + head; equal at head = 100
    got, _ = _assign(monkeypatch, head=head)
    assert sorted(set(got["fc1"])) == cores
