"""An op whose output may stay on its core frees its units when its compute ends, not when the store its estimate
counts behind that compute would land (``choice.assign``; probe p71 finding 3).

Once ``split_estimate`` counted the memory latency twice for an op that loads and stores (its first load's and its
last store's), the units of such an op stayed busy in ``assign``'s schedule through that store and its latency,
though a reader on the same core reads the kept output as soon as the compute ends (``_Residency`` times the reader
so). MobileNet-V2's ``features.N.project.conv`` (2 of a tpu-v4 core's 4 arrays) then seemed to hold its arrays
~550 cycles past the start of ``features.N+1.expand.conv``, which took the other 2 arrays at once rather than 3
(577 -> 773 compute cycles; 430,600 -> 433,323 cycles in all, tpu-v5p 459,548 -> 462,422)."""

from __future__ import annotations

import math

from accelsim.config import load_arch
from accelsim.ir import Graph
from accelsim.options import Options

from ..conftest import linear_op
from .test_split_wait import assign_by_hand

STORE = 500.0  # the cycles fc0's estimate has behind its compute for its store (bytes and latency)
HEAD = 100.0  # fc1's 8 pieces (heads) each take this


def test_a_reader_on_the_core_takes_the_units_of_the_op_whose_output_it_reads(monkeypatch):
    """A hand cost model replaces ``traffic.split_estimate`` (est, compute, memory):

    * fc0 computes 100 cycles on any number of units and, unless its output stays (``keep_out``), stores it in
      ``STORE`` more: est 100 + 500 = 600 on 1 to 4 units, which compute no longer and move no more, so it takes
      1 unit, core 0's first, cycles 0-100 (its compute), its output ready on core 0 at 100 and in memory at 600.
    * fc1 reads fc0's output: ceil(8 / n) × 100 cycles on n units, nothing moved. On core 0 (holding its input):
      3 units (the 3 fc0 left free) from 100 end at 100 + 3·100 = 400; all 4 end at 100 + 2·100 = 300 once fc0's
      unit is free at 100, its compute's end; elsewhere it waits for the store, 600. So 4 units, cycles 100-300.
      (With fc0's unit held to 600, its store's landing, 4 units ended at 600 + 200 = 800 and fc1 took 3.)"""
    arch = load_arch("multicore-4", ["arch.cores=2", "arch.core.systolic.count=4"])  # 2 cores × 4 arrays
    graph = Graph("chain", [linear_op("fc0", "input", 64, 64, 64), linear_op("fc1", "fc0", 64, 64, 64)],
                  {"input": (64, 64)})
    opts = Options()
    assert opts.activations_on_chip and opts.split_ops

    def estimate(p, arch, options, n, ncores, keep_out=False, **_):
        if p.op.name == "fc0":
            return 100.0 + (0.0 if keep_out else STORE), 100.0, 0.0 if keep_out else STORE
        c = math.ceil(8 / n) * HEAD
        return c, c, 0.0

    got, units, spans = assign_by_hand(monkeypatch, graph, arch, opts, estimate)
    assert [units[u].core for u in got["fc0"].units] == [0]
    assert spans["fc0"] == (0.0, 100.0 + STORE)
    assert sorted(got["fc1"].units) == sorted(u for u in range(len(units)) if units[u].core == 0
                                              and units[u].group == got["fc0"].unit_kind)
    assert spans["fc1"] == (100.0, 100.0 + 2 * HEAD)
