"""On a preset with a device dispatch (a GPU), a kernel's parameter loads wait for its DISPATCH: a GPU kernel reads
nothing before it runs, so its weights do not stream in during the launch or the previous kernel."""

from __future__ import annotations

from accelsim.builders.micro import GemmParams, gemm
from accelsim.config import load_arch
from accelsim.engine import simulate
from accelsim.mapping import lower
from accelsim.options import Options
from accelsim.tasks import TaskKind


def test_weight_loads_start_after_the_kernel_is_dispatched():
    a100 = load_arch("a100")  # kernel_dispatch 0.87 us = 1226.7 -> 1227 cycles at 1.41 GHz
    tg = lower(gemm(GemmParams(m=8, n=4096, k=4096, dtype="bf16")), a100, Options(execution="cuda_graph"))
    trace = simulate(tg)
    (dispatch,) = [t for t in tg.tasks if t.kind is TaskKind.DISPATCH]
    assert dispatch.cycles == 1227
    loads = [t for t in tg.tasks if t.kind is TaskKind.LOAD]
    assert loads and all(trace.start[t.id] >= trace.end[dispatch.id] for t in loads)
