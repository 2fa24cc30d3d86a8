"""Probe p200 #1: the split estimate counted every core's copy of an op's parameters as loaded while its producer
runs, however many there were and however short that op (gpt2's mlp.c_proj over 64 cores of multicore-4: 64 copies
of its 4.7 MB of weights priced as loaded in the 17,196 cycles its producer ran, in which HBM moves 7.0 MB), so whole
networks ran slower on more cores (resnet18 on multicore-4: 145,661 cycles on 8 cores, 153,887 on 16, 296,739 on
64). The credit is now at most what the main memory moves while the producer runs (traffic.split_estimate's
``lead``), and the whole plan is also compared with the plans of the first 2, 4, 8, … cores
(choice.assign_and_reside)."""

from __future__ import annotations

import pytest

from accelsim import simulate
from accelsim.config import build_graph, load_arch, load_workload
from accelsim.mapping import traffic
from accelsim.mapping.aliases import aliases
from accelsim.mapping.fusion import fuse, pipeline
from accelsim.mapping.pricing import price
from accelsim.options import Options


def _gemm_plan(arch, m: int, n: int, k: int):
    graph = build_graph(load_workload({"model": "gemm", "m": m, "n": n, "k": k}), arch.dtype)
    return next(q for q in pipeline(price(fuse(aliases(graph, Options()), graph, arch), arch), arch) if q.works)


def test_the_parameters_loaded_ahead_are_what_the_memory_moves_while_the_producer_runs():
    # c_proj's GEMM, 1024 × 768 × 3072 bf16, over 64 cores of multicore-4 (409.6 B/cycle of HBM at 1 GHz), cut
    # along M (its input, 1024·3072·2 = 6,291,456 B, outweighs its weights, 3072·768·2 = 4,718,592 B): every core
    # reads all the weights. Transfers: 6,291,456 + 64 × 4,718,592 + 1024·768·2 (1,572,864) = 309,854,208 B
    # = 756,480 cycles
    arch = load_arch({"base": "multicore-4", "cores": 64})
    p = _gemm_plan(arch, 1024, 768, 3072)
    full = traffic.split_estimate(p, arch, Options(), 64, 64)[2]
    assert full == pytest.approx(309_854_208 / 409.6)
    # with no bound on the time ahead all 64 copies (301,989,888 B = 737,280 cycles) load while the producer runs,
    # leaving 19,200 cycles, as the probe found the choice priced it
    assert traffic.split_estimate(p, arch, Options(), 64, 64, produced=True)[2] == pytest.approx(19_200)
    # a producer of 17,196 cycles (gpt2's mlp.act on 64 cores) leaves room for 17,196 cycles of them: 739,284 left
    lead = traffic.split_estimate(p, arch, Options(), 64, 64, produced=True, lead=17_196)[2]
    assert lead == pytest.approx(756_480 - 17_196)
    # a producer long enough to load them all leaves the whole credit
    assert traffic.split_estimate(p, arch, Options(), 64, 64, produced=True, lead=737_280)[2] == \
        pytest.approx(19_200)


@pytest.mark.parametrize("cores", [16, 64])
def test_resnet18_is_no_slower_on_more_identical_cores(cores):
    # a chip of more identical cores can run the 8-core schedule on 8 of them and leave the rest idle: it was
    # 153,887 cycles on 16 cores and 296,739 on 64 against 145,661 on 8 (probe p200 #1)
    eight = simulate("resnet18", {"base": "multicore-4", "cores": 8}).total_cycles
    assert simulate("resnet18", {"base": "multicore-4", "cores": cores}).total_cycles <= eight
