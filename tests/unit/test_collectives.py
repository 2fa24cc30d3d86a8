"""Data-parallel training over several chips: the gradient all-reduce on the links (ring formula by hand)."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from accelsim import __version__
from accelsim.builders import build_workload
from accelsim.engine import simulate
from accelsim.hardware import Arch, Interconnect
from accelsim.mapping import lower
from accelsim.options import Options
from accelsim.report import build_report
from accelsim.tasks import TaskKind

from ..conftest import make_arch


def _multi(chips, topology="ring", bandwidth="50GB/s", latency="2us"):
    base = make_arch(bandwidth="inf").model_dump()
    base.update(chips=chips, interconnect={"bandwidth": bandwidth, "latency": latency, "topology": topology})
    return Arch.model_validate(base)


def test_ring_all_reduce_formula_by_hand():
    # 64 MiB over 4 chips at 50 GB/s per direction and 2 µs per step:
    # 2·3/4 · 67,108,864 / 50e9 = 2.01327e-3 s, plus 2·3 = 6 steps × 2 µs = 12 µs → 2.02527e-3 s
    ic = Interconnect(bandwidth="50GB/s", latency="2us", topology="ring")
    assert ic.all_reduce_seconds(64 * 2**20, 4) == pytest.approx(2 * 3 / 4 * 67_108_864 / 50e9 + 6 * 2e-6)
    # fully connected: the same bytes, 2 steps of latency
    fc = Interconnect(bandwidth="50GB/s", latency="2us", topology="fully_connected")
    assert fc.all_reduce_seconds(64 * 2**20, 4) == pytest.approx(2 * 3 / 4 * 67_108_864 / 50e9 + 2 * 2e-6)
    assert ic.all_reduce_seconds(64 * 2**20, 1) == 0.0


def test_gradient_all_reduce_runs_on_the_link_with_the_formula_time():
    # one 512×512 linear trained on 4 chips: its int8 gradient (262,144 B) is all-reduced before the SGD step;
    # on an idle network the link task takes the formula's time in cycles at 1 GHz
    g = build_workload("gemm", {"m": 64, "n": 512, "k": 512, "mode": "training", "optimizer": "sgd"},
                       default_dtype="int8")
    arch = _multi(4)
    tg = lower(g, arch, Options())
    link = [t for t in tg.tasks if t.level == "link"]
    assert len(link) == 1
    grad = 512 * 512
    assert link[0].cycles == math.ceil((2 * 3 / 4 * grad / 50e9 + 6 * 2e-6) * 1e9)
    assert link[0].nbytes == 2 * 3 * grad // 4
    trace = simulate(tg)
    rep = build_report(g, arch, tg, trace, name="t", workload={}, version=__version__)
    assert rep["bytes"]["link"] == 2 * 3 * grad // 4
    # the step waits for the all-reduce: the optimizer's compute starts after the link task ends
    opt = next(i for i, m in enumerate(tg.ops) if m.kind == "optimizer")
    step = next(t for t in tg.tasks if t.op == opt and t.kind is TaskKind.COMPUTE)
    assert trace.start[step.id] >= trace.end[link[0].id]


def test_more_chips_need_an_interconnect():
    base = make_arch().model_dump()
    base["chips"] = 2
    with pytest.raises(ValidationError, match="needs an 'interconnect'"):
        Arch.model_validate(base)
